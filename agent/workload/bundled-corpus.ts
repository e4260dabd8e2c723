/**
 * The bundled prompt corpus "cacheon-chat-v1": original passages and chat templates written for
 * this project and dedicated to the public domain (CC0-1.0). Prompts are built by placing one or
 * more passages into a template, like the subnet's v1 (book passages in 20 templates), so a round
 * seed can pick among hundreds of long, varied chat prompts.
 */

/** A passage of prose placed into templates. */
export interface CorpusPassage {
  id: string;
  title: string;
  text: string;
}

/** A chat template: an optional system message and a user message with a {passage} slot. */
export interface CorpusTemplate {
  id: string;
  system?: string;
  user: string;
}

/** Licence of the bundled corpus. */
export const bundledCorpusLicence = "CC0-1.0";

/** Name used in WorkloadSpec.prompt_source as "bundled:cacheon-chat-v1". */
export const bundledCorpusName = "cacheon-chat-v1";

export const bundledTemplates: readonly CorpusTemplate[] = [
  {
    id: "summarise",
    user: "Summarise the following text in five sentences, keeping every name and number that matters.\n\n{passage}",
  },
  {
    id: "questions",
    user: "Read this passage and write six questions a teacher could ask about it, each with a short model answer.\n\n{passage}",
  },
  {
    id: "translate-fr",
    system: "You are a careful literary translator.",
    user: "Translate the passage below into French, keeping the tone and the paragraph breaks.\n\n{passage}",
  },
  {
    id: "critique",
    user: "Here is a draft from a writing workshop. Give an honest critique: what works, what does not, and three concrete edits.\n\n{passage}",
  },
  {
    id: "continue",
    user: "Continue this story for another four paragraphs in the same voice. Do not summarise; write the scenes.\n\n{passage}",
  },
  {
    id: "bullets",
    user: "Turn the following into a structured set of bullet-point notes with headings.\n\n{passage}",
  },
  {
    id: "explain-child",
    system: "You explain things to curious ten-year-olds.",
    user: "Explain what happens in this text to a ten-year-old, in simple words.\n\n{passage}",
  },
  {
    id: "facts-json",
    system: "You extract facts and answer only with JSON.",
    user: 'List every person, place, date and quantity mentioned in the passage as a JSON object with arrays "people", "places", "dates", "quantities".\n\n{passage}',
  },
  {
    id: "rewrite-formal",
    user: "Rewrite the following passage in a formal register suitable for an official report, without losing any information.\n\n{passage}",
  },
  {
    id: "rewrite-casual",
    user: "Rewrite this as if you were telling it to a friend over coffee: casual, warm, first person.\n\n{passage}",
  },
  {
    id: "title-abstract",
    user: "Propose three possible titles for the text below and write a one-paragraph abstract for it.\n\n{passage}",
  },
  {
    id: "counterpoint",
    system: "You are a thoughtful debate coach.",
    user: "Identify the main claims or assumptions in this passage and argue the opposite position as convincingly as you can.\n\n{passage}",
  },
  {
    id: "timeline",
    user: "Build a timeline of the events in this passage, one line per event, in the order they happened.\n\n{passage}",
  },
  {
    id: "poem",
    user: "Write a poem of sixteen lines inspired by the following passage. Keep at least two of its images.\n\n{passage}",
  },
  {
    id: "dialogue",
    user: "Retell the passage below as a dialogue between two of the people in it, or between a reporter and a witness.\n\n{passage}",
  },
  {
    id: "lesson-plan",
    system: "You are an experienced secondary-school teacher.",
    user: "Design a forty-minute lesson around this text: goals, activities with timings, and homework.\n\n{passage}",
  },
  {
    id: "risks",
    user: "Read the passage and list the practical risks or mistakes it reveals, with a recommendation for each.\n\n{passage}",
  },
  {
    id: "headline",
    user: "Write a newspaper article of about three hundred words based on this passage, with a headline and a standfirst.\n\n{passage}",
  },
  {
    id: "glossary",
    user: "Make a glossary of the ten least common words or terms in this passage, with a definition for each as used here.\n\n{passage}",
  },
  {
    id: "compare",
    user: "What does this passage have in common with everyday working life today? Give four comparisons, each with an example.\n\n{passage}",
  },
];

export const bundledPassages: readonly CorpusPassage[] = [
  {
    id: "ferry-crossing",
    title: "The Last Ferry",
    text: "The ferry to Hollin Island left the mainland at six, whether or not anyone was on it. Marta Sedge had run it for nineteen years, and in that time she had missed the departure only twice: once for the birth of her son, and once when the harbour froze so hard that the gulls stood on the water as if it were a road. On the evening this story begins, she had three passengers. There was a surveyor with a tripod wrapped in sacking, a girl of perhaps twelve carrying a cage with a single grey hen, and an old man who paid in coins so worn that the king on them had lost his nose. Marta took the coins without comment. The sea was flat and the colour of pewter, and the wind smelled of weed and diesel. Halfway across, the engine coughed, caught, and coughed again. The surveyor looked up from his notebook. The girl held the cage tighter. Only the old man seemed unworried; he leaned on the rail and said, to no one in particular, that the engine had done the same thing in the spring of the flood year, and that it had been a valve then, and would be a valve now.",
  },
  {
    id: "bread-method",
    title: "Notes on a Country Loaf",
    text: "A plain country loaf needs only flour, water, salt and time, yet most failures come from impatience rather than from the recipe. Begin the evening before with a levain: fifty grams of active starter, fifty grams of water at about twenty-six degrees, and fifty grams of wholemeal flour, stirred and left covered on the bench. By morning it should have doubled and smell faintly of yoghurt. Mix four hundred and fifty grams of strong white flour with three hundred and twenty grams of water and leave it for forty minutes; this rest, called the autolyse, lets the flour absorb the water and makes the dough easier to stretch. Then add one hundred grams of the levain and ten grams of salt dissolved in a spoonful of water. Over the next three hours give the dough four sets of stretches and folds, thirty minutes apart, and then leave it alone. It is ready to shape when it has grown by about half, feels airy, and shows a few bubbles at the sides of the bowl. Shape it gently into a round, place it seam side up in a floured basket, and retard it in the refrigerator overnight. Bake from cold in a covered pot at two hundred and fifty degrees for twenty minutes, then uncovered at two hundred and thirty for twenty-five more.",
  },
  {
    id: "lighthouse-log",
    title: "From the Keeper's Log",
    text: "March the fourth. Wind north-north-east, force six, rising. Barometer falling since noon. Lit the lamp at 17:42. The new wick trims cleanly but smokes when the draught shifts; I have written to the board again. At 19:10 observed a steamer, two masts, standing well out, showing her lights correctly. At 21:30 the rain turned to sleet and the gallery glass iced on the weather side; cleared it twice with warm water and spirit. March the fifth. Gale through the night. At 02:15 heard what I took for a gun to the south and fired two rockets in answer but saw nothing further. At first light found the boat-house door torn from its upper hinge and the small boat stove in along the garboard strake. Repairs beyond my means; requested timber and a carpenter by the supply vessel. Oil remaining: one hundred and twelve gallons. Biscuit, flour and salt pork sufficient for five weeks. Potatoes spoiling. My assistant, Evans, has a cough that he makes light of, but I have moved his cot nearer the stove and taken his watch tonight myself.",
  },
  {
    id: "water-cycle",
    title: "Where the Rain Goes",
    text: "Every glass of water has travelled farther than most people ever will. Heat from the sun evaporates water from oceans, lakes and the leaves of plants; a large oak can give up more than a hundred litres on a hot summer day. The vapour rises, cools, and condenses around tiny particles of dust, salt or smoke, forming the droplets that make up clouds. A typical cloud droplet is so small that it would take about a million of them to make a single raindrop, so rain forms only when droplets collide and merge, or when ice crystals grow at the expense of supercooled droplets around them and fall, melting on the way down. Once on the ground, water takes one of several paths. Some runs off into streams and rivers. Some soaks into the soil, where roots take it up and return it to the air. Some sinks deeper to recharge aquifers, where it can remain for days or for ten thousand years. The whole system is driven by energy: evaporating one kilogram of water absorbs about two and a quarter million joules, and that energy is released again as heat when the vapour condenses, which is what powers thunderstorms and hurricanes.",
  },
  {
    id: "clockmaker",
    title: "The Clockmaker's Apprentice",
    text: "Jonah was fourteen when he was bound to Master Avery, a clockmaker on Tanner Street whose shop was so narrow that two customers could not pass each other without one stepping outside. For the first year he was allowed to touch nothing but brooms and brass polish. He swept filings, polished cases, and watched. Avery worked with a loupe screwed into his eye and a cold pipe clamped in his teeth, and he talked to the mechanisms as he worked, not kindly. In the second year Jonah was given a broken verge watch to take apart and put back together, again and again, until he could do it without looking at the sketch he had made. In the third year he cut his first wheel. It took him eleven days, and when he was done Avery held it up to the window, turned it once, and dropped it into the scrap tin. Jonah cut another. That one went into the tin too. The fourth wheel Avery kept, without a word, and two weeks later Jonah saw it ticking inside a carriage clock that a doctor's wife collected on a Saturday, paying in gold.",
  },
  {
    id: "council-minutes",
    title: "Minutes of the Parish Council",
    text: "Present: the chair, Mrs Oduya; the clerk, Mr Pennick; councillors Hale, Brightwater, Sandhu and Foy. Apologies from councillor Marsh. 1. The minutes of the previous meeting were approved, subject to correcting the spelling of Brightwater. 2. Footpath 14: the landowner has again blocked the stile with a gate secured by chain. The clerk has written twice without reply. Resolved to report the obstruction to the county rights-of-way officer and to ask for a site visit before the end of the month. 3. Village hall roof: three quotes received, for four thousand two hundred, five thousand nine hundred and seven thousand three hundred pounds. Councillor Hale noted that the lowest quote does not include scaffolding. Resolved to ask all three contractors for itemised quotes including scaffolding and disposal. 4. Speeding on the main road: the community speed-watch group recorded two hundred and eleven vehicles in two hours on the twelfth, of which thirty-four exceeded the limit, the fastest at fifty-one miles per hour. The chair will write to the police. 5. Any other business: the defibrillator pads expire in June. Meeting closed at 21:05.",
  },
  {
    id: "glacier",
    title: "On the Glacier",
    text: "We roped up at the edge of the ice a little after four in the morning, when the snow bridges are strongest. Anneke led, I was in the middle, and Tomas, who was the heaviest, came last, so that if either of us fell into a crevasse there would be weight behind to hold. The surface was hard and gritty, and our crampons bit with a sound like someone eating an apple. For the first hour we followed the wands that the hut warden had set out the week before, thin bamboo canes with orange tape that marked the safe line. Then the wands ran out. Anneke stopped every twenty metres to probe with her axe. Twice the shaft went in up to the head, and each time we backed away and made a wide detour. The sun came up behind the ridge and in minutes the whole glacier turned from blue to gold to a white so bright that it hurt through our glasses. By nine the snow was softening. We had meant to reach the col by then; we were still an hour below it. We stood in a small circle, breathing hard, and talked about turning back.",
  },
  {
    id: "market-economics",
    title: "Why the Price of Onions Jumps",
    text: "Onions are a useful lesson in how prices work, because people buy about the same amount of them whatever they cost. Economists call such demand inelastic. When a harvest falls short, say because of heavy rain at the wrong moment, the quantity available drops a little but the price can rise a great deal, since buyers compete for a supply that cannot quickly be increased. Onions take months to grow and store only for a season, so a shortage cannot be fixed until the next crop. Traders who hold stocks gain, and growers who lost their crop gain nothing at all. Governments facing angry shoppers are tempted to ban exports or to cap prices. An export ban can lower prices at home quickly but punishes growers who had contracts abroad and may discourage planting the following year. A price cap, if it is set below what it costs to bring onions to market, tends to empty the shelves rather than fill the baskets. Buffer stocks, bought when prices are low and released when they are high, smooth the swings, but they are costly to store, and onions rot.",
  },
  {
    id: "letter-home",
    title: "A Letter Home",
    text: "Dear Mother, I am writing this on an upturned crate by the light of a lamp that belongs to the foreman, so I shall be brief, though I have a great deal to tell you. The work on the line is hard but not as hard as people said. We lay about a third of a mile of track on a good day. The men are from everywhere: there are Swedes and Irishmen and two brothers from a village near ours whose name I cannot spell. The food is plain and there is plenty of it. I have put away eleven dollars, which I enclose, and I shall send more at the end of the month. You are not to spend it on me. Please use it for the roof and for Anna's boots. Tell Father that I have not forgotten what he said about cards, and that I do not play. It snowed last week, which surprised everyone because it is only October, and the cook says we shall be in winter quarters by the first of December. I think of home more than I expected to, mostly in the evenings. Give my love to everyone and tell little Piet that I have seen a bear, a small one, from a distance. Your loving son, Willem.",
  },
  {
    id: "software-incident",
    title: "Postmortem: The Tuesday Outage",
    text: "Summary: for forty-seven minutes on Tuesday, about a third of requests to the payments service failed with timeouts. Impact: roughly eighteen thousand checkout attempts failed; most customers retried successfully within the hour. Timeline: at 14:02 a routine configuration change raised the connection pool size of the payments service from fifty to two hundred per instance. At 14:09 database CPU rose from forty to ninety-five percent. At 14:11 the on-call engineer was paged for elevated latency. At 14:20 the database began refusing new connections because the total across all instances exceeded its limit of two thousand. At 14:38 the change was identified as the likely cause and rolled back. At 14:49 error rates returned to normal. Root cause: the change was reviewed as safe for one instance, but nobody multiplied by the forty instances in production. Contributing factors: the configuration system had no check against the database's connection limit; dashboards showed pool size per instance but not the total. What went well: rollback took under two minutes once decided. Actions: add a validation rule for total connections; alert on database connection count above eighty percent; add the arithmetic to the review checklist.",
  },
  {
    id: "garden-year",
    title: "A Year in a Small Garden",
    text: "In January the garden looks dead, but it is only resting. The best work then is planning: which beds held potatoes last year, and so must not hold them again; where the afternoon shade falls; which seeds are worth saving money on and which are not. February is for sharpening tools and for sowing chillies and tomatoes indoors on a sunny windowsill. By March the soil begins to warm, and broad beans, onion sets and early peas can go out under a fleece. April is treacherous, with warm days that tempt planting and cold nights that punish it; the old advice is to wait until the oak is in leaf. In May everything happens at once. Courgettes, beans and squash are sown, tomatoes are hardened off and planted out, and weeds grow faster than anyone can pull them. June and July are for watering in the evening, tying in, and picking before things go woody. August brings gluts: more courgettes than any family can eat, and beans that must be picked daily. In September the light changes, apples ripen, and the first frost is a few weeks away. October and November are for clearing, mulching, and planting garlic, which likes a long cold start.",
  },
  {
    id: "courtroom",
    title: "The Witness",
    text: "The witness was a small woman in a brown coat she did not take off, and she answered every question as though it might be a trap. Counsel for the defence, a tall man with a habit of turning his back on the people he was questioning, asked her where she had been standing at half past ten on the night in question. At the bus stop on Carver Street, she said. Facing which way? Towards the bakery. And the bakery was closed? It was, but the light in the back was on; it always is, because they start the bread at four. Could she see the car park from there? Part of it. Which part? The part by the bins. And what did she see? A man in a light jacket getting into a blue car. Not black? Blue. How could she be sure, at night? Because the car was under the lamp, and because her brother had one just like it, the same model, and she had been in it a hundred times. Counsel turned round, slowly, and asked whether she had told the police about her brother's car when she first gave her statement. She said she had not been asked. There was a murmur in the public gallery, and the judge looked up.",
  },
  {
    id: "bees",
    title: "How Bees Decide Where to Live",
    text: "When a honeybee colony grows too large, the old queen leaves with about half the workers, and the swarm hangs from a branch while it chooses a new home. The decision is made not by the queen but by a few hundred older workers called scouts. Each scout flies off, inspects possible cavities such as hollow trees, and returns to dance on the surface of the swarm. The length of the dance reflects how good the site seemed: a dry cavity of about forty litres, with a small entrance facing south and high off the ground, earns a long and enthusiastic dance. Other scouts follow the dance, visit the site themselves, and dance for it in turn if they agree. Scouts for weaker sites dance less and less and eventually stop. Scouts also butt rivals with their heads and give a short beeping signal that inhibits dancing for competing sites. When about fifteen to twenty scouts are present at the same site at once, they sense a quorum and begin to warm up the swarm for flight. The whole process usually takes one to three days, and studies show that swarms pick the best available site most of the time.",
  },
  {
    id: "night-train",
    title: "Night Train",
    text: "The night train left at eleven and would reach the border by four. Ilse had a lower berth in a compartment for six, and by the time she had stowed her case and unlaced her boots the other five were already arranged for sleep: a soldier on leave who had taken off only his belt, a mother and daughter sharing one berth and one blanket, a salesman whose sample case was chained to his wrist, and a priest who read his breviary by a torch shaded with his hand. Nobody spoke. The train rocked and clanked, and the blind over the window let in slices of orange light at each station they passed without stopping. At one o'clock the conductor came through checking tickets, apologising at every door. At two the train stopped in the middle of nowhere for forty minutes, and the silence was worse than the noise. Ilse lay awake with her passport under her pillow, rehearsing the answers she would give: the purpose of her visit, the address of her aunt, the name of the school where she would teach. She had rehearsed them so often that they no longer sounded true, even to her.",
  },
  {
    id: "volcano-science",
    title: "What a Volcano Says Before It Erupts",
    text: "Volcanoes rarely erupt without warning; the difficulty lies in reading the warnings. As magma rises from depth it cracks the rock around it, producing swarms of small earthquakes that seismometers can locate. If the swarm migrates upwards over days or weeks, magma may be on the move. The ground itself swells as magma accumulates, and satellites using radar can measure that swelling to within a centimetre across an entire mountain. Gases escaping from the magma change too: carbon dioxide comes out of solution at great depth, sulphur dioxide much closer to the surface, so a rising ratio of sulphur to carbon can mean that magma is getting shallower. Springs and crater lakes may warm, and their chemistry may change. None of these signs is decisive alone. Many swarms and swellings end without any eruption, and evacuating a town costs money, trust and sometimes lives. Volcanologists therefore speak in probabilities and alert levels rather than predictions, and the hardest part of their work is often not the science but the conversation with officials who must decide, under uncertainty, whether to order people out of their homes.",
  },
  {
    id: "shop-ledger",
    title: "The Ironmonger's Ledger",
    text: "Monday. Opened at eight. Sold to Mr Carrow one galvanised bucket, two pounds of two-inch nails and a pair of hinges, paid cash, six shillings and fourpence. Mrs Lyle returned the kettle bought on Thursday, the handle having come loose; exchanged it and sent the faulty one back to the wholesaler with a note. Delivery from Bramley and Sons: twelve coils of wire, six spades, six forks, a crate of paraffin lamps, three of which were cracked; signed for nine. Tuesday. Rain all day, little trade. Took stock of screws and found the one-inch brass nearly gone; ordered a gross. The Reverend asked whether we could cut a key for the vestry by Sunday; told him Friday. Wednesday. Market day, busy from opening. Took fourteen pounds and some shillings, the best day since harvest. The boy broke a pane in the back window with a ladder; stopped sixpence from his wages and put the rest down to experience. Thursday. Mr Carrow came back for more nails, having underestimated his fence. Told him, as I tell everyone, to buy a third more than he thinks; he laughed and bought half as much again.",
  },
  {
    id: "chess-lesson",
    title: "The First Lesson",
    text: "The old man set up the pieces without looking at them, the way other people tie their shoes. He told the boy that there were only three things to learn in the opening, and that most players twice the boy's age had not learned them. First, put your pawns in the centre, because the centre is where pieces can reach everywhere. Second, bring out your knights and bishops before you move any piece twice, because a piece that has moved twice has wasted a move that your opponent has used. Third, castle early, because a king in the middle of the board is a king that will be chased. Then he played the boy ten games, one after another, and won all of them in fewer than twenty moves, and after each game he asked the same question: which of the three did you forget? The boy forgot the third one six times. In the eleventh game he castled on move seven, and the old man smiled for the first time that afternoon, and then won anyway, in thirty-one moves, by a combination that the boy did not understand until he had set it up again at home three days later.",
  },
  {
    id: "public-health",
    title: "Why Handwashing Took So Long",
    text: "In the middle of the nineteenth century, a doctor in a large maternity hospital noticed that one of its two clinics had a death rate from childbed fever several times higher than the other. The clinic with more deaths was staffed by doctors and students who came straight from performing autopsies; the other was staffed by midwives who did not. When a colleague died of an infection after being cut by a student's scalpel during an autopsy, with symptoms like those of the women, the doctor concluded that something from the corpses was being carried on the hands of the physicians. He ordered everyone to wash their hands in a chlorine solution before examining patients, and deaths in the clinic fell sharply within months. Yet his idea was widely resisted. There was no theory of germs to explain it; many physicians were offended by the suggestion that gentlemen's hands could be unclean; and he himself was poor at explaining his evidence, publishing it late and attacking critics angrily. It took another generation, and the work of scientists who showed that microbes cause disease, for the practice to become normal.",
  },
  {
    id: "harbour-town",
    title: "Saturday in the Harbour Town",
    text: "On Saturdays the harbour town wakes early. By half past five the fish market is lit and hosed down, and the first boats are backing in, low in the water. The auctioneer speaks so fast that visitors think he is speaking another language, and in a sense he is: a language of half-words and nods in which a box of hake can change hands in four seconds. By seven the cafes on the quay are open, and the fishermen sit at the outside tables in their boots, eating eggs and bread and arguing about the weather and the quota. By nine the tourists arrive, with their cameras and their dogs, and the town changes its clothes. The chandlery hangs out oilskins in bright colours that no fisherman would wear. The ice-cream kiosk opens its shutter. A man with an accordion sets up by the lifeboat station and plays the same six songs until noon. In the afternoon the tide goes out, the boats settle on the mud at odd angles, and the children dig for crabs among the mooring chains while their parents watch from the wall.",
  },
  {
    id: "negotiation",
    title: "The Contract",
    text: "The meeting was scheduled for an hour and lasted four. On one side of the table sat the supplier's sales director and her finance manager; on the other, the buyer's head of procurement and a young lawyer who had read the draft contract three times and marked every clause in a different colour. The price had been agreed weeks before. What remained was everything else. The buyer wanted delivery within ten working days and a penalty of two percent for each day late; the supplier offered fifteen days and one percent, capped at ten. The buyer wanted the right to cancel any order up to forty-eight hours before dispatch; the supplier wanted a restocking fee. The lawyer wanted the liability clause rewritten from beginning to end. At the second hour they broke for coffee, and the sales director and the head of procurement stood at the window talking about their children. When they came back, they traded: twelve days and one and a half percent, capped at twelve; cancellation free up to five days, with a fee after that; liability limited to the value of the order in question. The lawyer sighed and picked up a new pen.",
  },
  {
    id: "astronomy-night",
    title: "Finding Your Way Around the Night Sky",
    text: "On a clear night away from city lights you can see around two to three thousand stars with the naked eye, which sounds like a lot until you learn to find your way among them using just a few. In the northern hemisphere the easiest starting point is the Plough, seven bright stars in the shape of a saucepan. Follow the two stars at the end of the pan upwards, about five times the distance between them, and you reach the Pole Star, which stays nearly fixed while everything else turns around it once a day. Follow the curve of the handle away from the pan and you arrive at an orange star, Arcturus, one of the brightest in the sky. In winter, the three stars in a line that form Orion's belt point down and to the left towards Sirius, the brightest star of all, and up and to the right towards a reddish star in Taurus. Planets give themselves away by not twinkling and by moving, over weeks, against the background of stars. Binoculars held steady against a wall will show the moons of Jupiter as tiny points strung on a line.",
  },
  {
    id: "village-school",
    title: "The Village School",
    text: "The school had one room, one teacher and, in the year this account describes, twenty-three pupils between the ages of five and thirteen. Miss Arkwright arranged them by size rather than by age, since the big ones blocked the view of the small ones, and taught them in three groups that rotated through the day like the hands of a clock. While the youngest traced letters on slates, the middle group read aloud from a reader that had belonged to their parents, and the oldest worked sums from the board. In winter a stove in the corner burned coal that each family sent in turn, and the children whose families could not spare it brought kindling instead, and nobody mentioned the difference. In summer half the older boys vanished for weeks at harvest, and Miss Arkwright wrote their absences in the register without comment, and set them extra work when they returned. An inspector came once a year. He listened to the oldest children recite, looked at the copybooks, and wrote in his report that the school was adequate, which Miss Arkwright, who had not had a holiday in six years, took as the highest praise.",
  },
  {
    id: "battery-chemistry",
    title: "Inside a Rechargeable Battery",
    text: "A lithium-ion cell is, at heart, two sponges for lithium separated by a thin wall. One sponge, the anode, is usually graphite, in which lithium atoms can tuck themselves between layers of carbon. The other, the cathode, is a metal oxide, such as one containing nickel, manganese and cobalt, with a crystal structure full of sites where lithium ions fit. Between them sits an electrolyte, a lithium salt dissolved in an organic solvent, and a porous plastic separator that lets ions through but keeps the electrodes from touching. When the cell charges, an external voltage pulls lithium out of the cathode as ions and pushes them through the electrolyte into the graphite, while electrons travel the long way round through the charger. On discharge the process reverses and the electrons do useful work on their way back. Each cycle is not perfectly reversible: some lithium is trapped in a film that forms on the anode, and the cathode's crystals crack a little as they swell and shrink. That is why capacity fades over hundreds of cycles, and why heat, deep discharges and fast charging all shorten a battery's life.",
  },
  {
    id: "mountain-inn",
    title: "The Inn at the Pass",
    text: "The inn at the top of the pass had been rebuilt so many times that no two of its walls were the same age. The stables were stone and old; the dining room was timber and newer; the kitchen had a tin roof that rang like a drum when it hailed. The landlady, a widow called Rosa, kept the accounts in her head and the keys on a string around her waist. She could tell from the sound of a carriage on the switchbacks how many horses it had and whether they were tired, and she had a pot of soup on the stove at every hour of the day and night, because travellers arrived at every hour. In the great snow of that winter, when the road was closed for nineteen days, the inn held forty-two people who had expected to stay for one night: a troupe of actors, a bishop's secretary, a family of five travelling to a funeral, two smugglers who claimed to be wool merchants, and a great many others. Rosa rationed the firewood, set the actors to entertaining everyone in the evenings, and made the smugglers chop wood, which they did with surprising skill.",
  },
];
