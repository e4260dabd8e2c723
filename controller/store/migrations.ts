/** One schema change. Migrations run in order, each in its own transaction, exactly once. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * The controller's schema history. Append only: never edit a migration that shipped; add one.
 * Every table keeps history (nothing is updated away that an audit would need): submissions
 * change state but keep their reasons, jobs are one row per attempt, standings and weight
 * settings are append-only.
 */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: "initial schema",
    sql: `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE submissions (
  id TEXT PRIMARY KEY,
  sequence INTEGER NOT NULL UNIQUE,
  hotkey TEXT NOT NULL,
  uid INTEGER,
  raw TEXT NOT NULL,
  image TEXT,
  digest TEXT,
  commit_block INTEGER NOT NULL,
  seen_block INTEGER NOT NULL,
  state TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  copy_of TEXT,
  config_digest TEXT,
  layers TEXT,
  size_bytes INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX submissions_hotkey ON submissions (hotkey, sequence);
CREATE INDEX submissions_state ON submissions (state);

CREATE TABLE commitments (
  hotkey TEXT PRIMARY KEY,
  raw TEXT NOT NULL,
  commit_block INTEGER NOT NULL,
  submission_id TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE rounds (
  id TEXT PRIMARY KEY,
  number INTEGER NOT NULL UNIQUE,
  block INTEGER NOT NULL,
  block_hash TEXT NOT NULL,
  seed TEXT NOT NULL,
  state TEXT NOT NULL,
  deadline_ms INTEGER NOT NULL,
  challengers TEXT NOT NULL,
  standing_before TEXT NOT NULL,
  standing_after TEXT,
  created_at INTEGER NOT NULL,
  settled_at INTEGER,
  published_at INTEGER,
  publish_location TEXT
);

CREATE TABLE jobs (
  id TEXT PRIMARY KEY,
  round_id TEXT NOT NULL REFERENCES rounds (id),
  phase TEXT NOT NULL,
  slot TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  seed TEXT NOT NULL,
  job TEXT NOT NULL,
  state TEXT NOT NULL,
  pod_id TEXT,
  excluded_pods TEXT NOT NULL,
  decision TEXT,
  reason TEXT NOT NULL DEFAULT '',
  result TEXT,
  score TEXT,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  UNIQUE (round_id, slot, attempt)
);
CREATE INDEX jobs_round ON jobs (round_id, state);

CREATE TABLE arm_results (
  job_id TEXT NOT NULL REFERENCES jobs (id),
  arm_id TEXT NOT NULL,
  role TEXT NOT NULL,
  submission_id TEXT NOT NULL,
  outcome TEXT NOT NULL,
  gate TEXT,
  speed REAL,
  wall_s REAL,
  wall_cv REAL,
  reason TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (job_id, arm_id)
);

CREATE TABLE verdicts (
  round_id TEXT NOT NULL REFERENCES rounds (id),
  submission_id TEXT NOT NULL,
  hotkey TEXT NOT NULL,
  verdict TEXT NOT NULL,
  speed REAL NOT NULL,
  settled_speed REAL NOT NULL,
  reason TEXT NOT NULL,
  evidence TEXT NOT NULL,
  PRIMARY KEY (round_id, submission_id)
);

CREATE TABLE standings (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  round_id TEXT,
  standing TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE weight_settings (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  block INTEGER NOT NULL,
  uids TEXT NOT NULL,
  weights TEXT NOT NULL,
  key TEXT NOT NULL,
  reason TEXT NOT NULL,
  state TEXT NOT NULL,
  tx_ref TEXT,
  confirmed_block INTEGER,
  error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE miner_reports (
  round_id TEXT NOT NULL REFERENCES rounds (id),
  hotkey TEXT NOT NULL,
  submission_id TEXT NOT NULL,
  report TEXT NOT NULL,
  PRIMARY KEY (round_id, hotkey)
);
`,
  },
  {
    version: 2,
    name: "store id",
    // Job ids go to agents and label Docker objects; round numbers restart in every store, so
    // two controllers sharing an engine (or a test beside the demo) would otherwise reuse ids
    // and sweep each other's containers. A random id per store keeps job ids unique.
    sql: "INSERT INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(4)))) ON CONFLICT (key) DO NOTHING;",
  },
  {
    version: 3,
    name: "job independence",
    // A reproduction (or a re-measurement) must run on a machine independent of the pods that
    // measured its challengers before: another host, other GPUs, another provider when several
    // are configured. Those pods are kept per attempt, so a restarted controller keeps the rule.
    sql: "ALTER TABLE jobs ADD COLUMN independent_of TEXT NOT NULL DEFAULT '[]';",
  },
  {
    version: 4,
    name: "weight commits and chain cursors",
    // Commit-reveal spans epochs: the salt (hash mode) or ciphertext (drand timelock) and where
    // the commit stands are kept so a restart between commit and reveal resumes it instead of
    // losing the weights or committing twice. Cursors keep readers of finalized history
    // (revealed commitments beyond the chain's last 10) from rereading or skipping blocks.
    sql: `
CREATE TABLE IF NOT EXISTS weight_commits (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  setting_id INTEGER NOT NULL,
  mode TEXT NOT NULL,
  netuid INTEGER NOT NULL,
  hotkey TEXT NOT NULL,
  uids TEXT NOT NULL,
  vals TEXT NOT NULL,
  version_key TEXT NOT NULL,
  salt TEXT,
  commit_hash TEXT NOT NULL,
  ciphertext TEXT,
  reveal_round INTEGER,
  submitted_block INTEGER NOT NULL,
  commit_block INTEGER,
  commit_epoch INTEGER,
  state TEXT NOT NULL,
  confirmed_block INTEGER,
  error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS weight_commits_setting ON weight_commits (setting_id, state);
CREATE TABLE IF NOT EXISTS chain_cursors (
  name TEXT PRIMARY KEY,
  block INTEGER NOT NULL,
  block_hash TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
`,
  },
  {
    version: 5,
    name: "weight_settings.sent_extrinsic; fee_payments, fee_transfers, fee_ledger_gaps",
    sql: `
-- The weights extrinsic of a setting, written once it is signed and before it is sent: while it
-- may still land (its mortal era has not ended) nothing else is sent for the setting.
ALTER TABLE weight_settings ADD COLUMN sent_extrinsic TEXT;

-- Submission fees found in finalized blocks: a transfer to the fee account with the remark that
-- names what it pays for. Each pays for one submission at most (consumed_by).
CREATE TABLE fee_payments (
  id TEXT PRIMARY KEY,
  block INTEGER NOT NULL,
  extrinsic_index INTEGER NOT NULL,
  payer TEXT NOT NULL,
  destination TEXT NOT NULL,
  amount TEXT NOT NULL,
  netuid INTEGER NOT NULL,
  hotkey TEXT NOT NULL,
  digest TEXT NOT NULL,
  remark TEXT NOT NULL,
  consumed_by TEXT,
  created_at INTEGER NOT NULL
);
CREATE INDEX fee_payments_hotkey ON fee_payments (hotkey, block);
CREATE UNIQUE INDEX fee_payments_consumed ON fee_payments (consumed_by) WHERE consumed_by IS NOT NULL;

-- Transfers to the fee account whose remark (the payer's next transaction) has not been seen yet.
CREATE TABLE fee_transfers (
  id TEXT PRIMARY KEY,
  block INTEGER NOT NULL,
  extrinsic_index INTEGER NOT NULL,
  payer TEXT NOT NULL,
  nonce INTEGER NOT NULL,
  destination TEXT NOT NULL,
  amount TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX fee_transfers_payer ON fee_transfers (payer, nonce);

-- Finalized blocks the fee ledger could not read (state pruned): a payment there cannot be seen.
CREATE TABLE fee_ledger_gaps (
  from_block INTEGER NOT NULL,
  to_block INTEGER NOT NULL,
  reason TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
`,
  },
  {
    version: 6,
    name: "copy priority",
    // Who owns content is decided by when it became public (a timelocked commitment's reveal,
    // not its commit) and, within a block, by the commitment's event index; null when the chain
    // could no longer tell. Existing submissions keep their commit block.
    sql: `
ALTER TABLE submissions ADD COLUMN priority_block INTEGER;
ALTER TABLE submissions ADD COLUMN priority_index INTEGER;
UPDATE submissions SET priority_block = commit_block;
`,
  },
  {
    version: 7,
    name: "evidence bundles",
    // Each arm's evidence bundle as its round's publication found it: the digest the agent named,
    // where the bytes were published, or why they were not. The digests themselves live in the
    // stored job result; this records what anyone can fetch to re-judge.
    sql: `
CREATE TABLE evidence_bundles (
  job_id TEXT NOT NULL,
  arm_id TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  published_key TEXT,
  problem TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (job_id, arm_id)
);
`,
  },
];
