import { CacheonError } from "../../shared/errors/cacheon-error.ts";

/**
 * A failure of the pod itself (its disk, its GPUs, its engine), not of the image being run: the
 * job stops, reports why, and is rerun elsewhere. No arm is blamed for it.
 */
export class PodFault extends CacheonError {
  override readonly name = "PodFault";
}
