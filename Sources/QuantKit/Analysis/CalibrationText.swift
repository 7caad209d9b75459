/// The default calibration text: an original mix of English prose (story, explainer, how-to, dialogue, news),
/// lists, a Markdown table, Python/Swift/JavaScript/shell code, JSON, math, a few accented words and emoji.
/// Written for qtui and free to use; about 2,900 words (16,336 characters), 4,594 tokens with SmolLM2's tokenizer.
public enum CalibrationText {
    public static let standard = """
    # The Lamp on Harrow Point

    Every evening at a quarter past six, Ada Lindqvist climbed the ninety-one steps of the old lighthouse on Harrow Point, even though the lamp had run on a timer for eleven years. She said the stairs kept her knees honest. Her grandson, Tomas, said she simply liked being the first person on the island to see the weather coming.

    On the night of the storm, she saw it long before anyone else. A grey wall stood over the water to the west, so tall and so still that at first she mistook it for a second coastline. Then the wind reached the gallery railing and began to sing through it, a low note that rose and fell like someone humming a song they had half forgotten.

    She went back down, counting the steps out of habit, and put the kettle on. There was no point in worrying about something that would arrive whether you worried or not. That was the first rule her father had taught her. The second was to write everything down.

    So she opened the logbook, the real one with the cracked green cover, and wrote: "Wind backing south-west, rising. Pressure 998 and falling. Sea state moderate, becoming rough. Sky to the west like wet slate."

    By ten the power went out across the village, and the houses went dark one street at a time, like a line of candles being pinched. The lighthouse did not go dark.

    Near midnight a fishing boat called the *Marguerite* came around the headland, far too close to the rocks. Ada watched its lights lurch and disappear behind the swell and then climb back into view. She stood at the window with her hand flat against the cold glass and said, quietly, "Go left. Left. A little more."

    The boat went left. It slid past the last black rock with perhaps twenty metres to spare and then turned into the calm water behind the breakwater, where its engine note dropped to a steady grumble. Ada sat down, finished her tea, which had gone cold, and wrote one more line in the logbook: "00:14. *Marguerite* in safely. Beam visible throughout."

    In the morning the skipper of the *Marguerite* came up the hill with a bag of fresh bread and a bottle of something amber, and stood in her doorway for a while without saying much. Finally he said, "I couldn't see the shore at all. Only your light."

    "It's not my light," Ada said. "It belongs to whoever needs it." But she kept the bottle.

    ## How Tides Actually Work

    Most people learn in school that the Moon causes the tides, and that is true as far as it goes. The more interesting part is *how*. Gravity gets weaker with distance, so the side of the Earth facing the Moon is pulled slightly harder than the Earth's centre, and the centre is pulled slightly harder than the far side. The result is a gentle stretching force, called the tidal force, that tends to pull the oceans into a shape with two bulges: one under the Moon and one on the opposite side of the planet.

    As the Earth rotates once a day beneath these two bulges, most coastlines pass through two high tides and two low tides. Because the Moon also moves along its orbit in the same direction that the Earth spins, a given place needs about 24 hours and 50 minutes to line up with the Moon again. That is why high tide arrives roughly fifty minutes later each day.

    The Sun produces tides too, but they are a little less than half as strong as the Moon's, because the Sun is so much farther away. When the Sun, the Moon and the Earth line up, at new moon and full moon, the two effects add together and produce *spring tides*, with an unusually large range between high and low water. (The name has nothing to do with the season; it comes from the idea of the water "springing up".) When the Sun and Moon are at right angles to each other, at the quarter moons, they partly cancel, and the result is the smaller *neap tides*.

    Real coastlines complicate this simple picture enormously. The oceans cannot flow freely around the globe because the continents are in the way, so the water sloshes around inside each ocean basin instead, rotating around points where the tidal range is almost zero. Bays can amplify the effect when their natural sloshing period matches the tidal rhythm, which is why some places see a range of more than 15 metres while others see less than one.

    ## How to Repot a Houseplant

    Repotting sounds intimidating, but it takes about twenty minutes and needs very little equipment. The best time to do it is early spring, when the plant is starting to grow again and will recover quickly.

    You will need:

    - a new pot, 2 to 5 cm wider than the old one, with a drainage hole
    - fresh potting mix suited to the plant (cactus mix for succulents, a chunky bark mix for orchids)
    - a trowel or an old spoon
    - a pair of clean scissors
    - newspaper or an old towel to keep the table tidy
    - a watering can

    Steps:

    1. Water the plant lightly a day before. Moist roots slide out of the pot more easily and are less likely to tear.
    2. Turn the pot on its side, support the base of the stems with one hand, and gently tap or squeeze the pot until the root ball comes free. Never pull the plant out by its leaves.
    3. Loosen the outer roots with your fingers. If they circle tightly around the bottom, tease them apart, and trim any that are black, mushy or smell bad.
    4. Put a layer of fresh mix in the new pot so that the top of the root ball will sit about 2 cm below the rim.
    5. Set the plant in the centre and fill the gaps around it with more mix, pressing lightly to remove large air pockets. Do not pack it down hard.
    6. Water slowly until it runs out of the drainage hole, then let the pot drain completely.
    7. Keep the plant out of direct sun for about a week while the roots settle in.

    A common mistake is choosing a pot that is far too big. A large volume of wet soil around a small root system stays damp for too long, and that is an invitation to root rot. Go up one size at a time, and your plant will thank you. 🌱

    ## A Conversation at the Bike Shop

    The bell above the door rang, and a young woman wheeled in a blue bicycle with a very flat front tyre.

    "Morning," said the mechanic, wiping his hands on a rag. "Let me guess. Puncture?"

    "I think so. I pumped it up this morning and it went down again in an hour."

    "A slow leak, then." He lifted the bike onto the stand and spun the wheel, watching the tread. "Have you ever fixed one yourself?"

    "Never. I always meant to learn."

    "Well, today's your lucky day. I'll show you, and next time you'll save yourself the trip." He handed her a pair of plastic levers. "First, we let out whatever air is left. Then hook one of these under the edge of the tyre, here, and push it down against a spoke. Good. Now the second one, a hand's width further along, and slide it around the rim."

    She struggled for a moment, then the bead popped free. "Oh! That was easier than I expected."

    He pulled out the inner tube, pumped a little air into it, and held it next to his ear, turning it slowly. "Hear that? Tiny hiss. There." He marked the spot with a piece of chalk. "Now, the important part: we check the inside of the tyre before we put anything back. Run your fingers along it, carefully."

    She did, and winced. "Something sharp."

    "Exactly. If you don't find that, you'll have a new flat by lunchtime." He pried out a sliver of glass no bigger than a grain of rice and set it on the counter. "Now we patch the tube, and you carry a spare in your bag for emergencies."

    Ten minutes later the tyre was back on the rim, pumped to the pressure printed on its sidewall, and holding firm. She paid for the patch kit and a spare tube, and paused at the door.

    "Thank you. I thought you'd just fix it and send me off."

    He smiled. "Fixing it takes five minutes. Teaching it takes fifteen, but then you never need me for this again." 🚲

    ## Local News: Riverside Footbridge to Reopen After Repairs

    MILLBROOK, October 3, 2024. The Riverside footbridge, closed since February 12 after inspectors found corrosion in two of its steel supports, will reopen to pedestrians and cyclists on Saturday, November 16, the town council announced on Tuesday. The repairs cost $1.84 million, about 9% less than the original estimate of $2.02 million, and were paid for by a state infrastructure grant covering 75% of the bill, with the remaining $460,000 taken from the town's maintenance reserve. According to the council's figures, the bridge carried an average of 3,200 crossings per day before it closed, rising to more than 5,000 on weekends in summer. Council member Rosa Delgado said the closure had added up to 25 minutes to some residents' commutes. "People have been very patient," she said. "We know the detour was not fun." The contractor replaced 14 support brackets, repainted 1,150 square metres of steel, and installed new LED lighting expected to cut the bridge's electricity use by roughly 60 percent. A small opening event is planned for 10:00 a.m. on the east bank, with free coffee from the farmers' market. ☕

    ## Reading Log for One Week

    | Day       | Book                      | Pages | Minutes | Notes                         |
    |-----------|---------------------------|------:|--------:|-------------------------------|
    | Monday    | *The Quiet Orchard*       |    34 |      45 | slow start, lovely prose      |
    | Tuesday   | *The Quiet Orchard*       |    51 |      60 | the letters chapter           |
    | Wednesday | *A Short History of Salt* |    22 |      30 | dense but fascinating         |
    | Saturday  | *The Quiet Orchard*       |   118 |     140 | finished it! 🎉                |
    | Sunday    | *Notes on Bridges*        |    27 |      35 | lots of diagrams              |
    | **Total** |                           |   252 |     310 | about 0.8 pages per minute    |

    ## Code: A Moving Average in Python

    The function below computes a simple moving average over a list of numbers. It keeps a running sum, so each step costs O(1) instead of O(k).

    ```python
    from collections import deque
    from typing import Iterable, Iterator


    def moving_average(values: Iterable[float], window: int = 3) -> Iterator[float]:
        # Yield the mean of the last `window` values, once enough values have arrived.
        if window <= 0:
            raise ValueError(f"window must be positive, got {window}")
        recent: deque[float] = deque()
        total = 0.0
        for v in values:
            recent.append(v)
            total += v
            if len(recent) > window:
                total -= recent.popleft()
            if len(recent) == window:
                yield total / window


    if __name__ == "__main__":
        temps = [12.5, 13.0, 14.25, 13.75, 15.5, 16.0]
        for i, avg in enumerate(moving_average(temps, window=3)):
            print(f"day {i + 3}: {avg:.2f} °C")
        print("done\\n")
    ```

    Running it prints one line per full window, starting with `day 3: 13.25 °C`.

    ## Code: A Temperature Type in Swift

    ```swift
    import Foundation

    struct Temperature: Comparable, CustomStringConvertible {
        var celsius: Double

        var fahrenheit: Double {
            celsius * 9.0 / 5.0 + 32.0
        }

        var description: String {
            String(format: "%.1f °C (%.1f °F)", celsius, fahrenheit)
        }

        static func < (lhs: Temperature, rhs: Temperature) -> Bool {
            lhs.celsius < rhs.celsius
        }
    }

    let readings = [18.5, 21.0, 16.25, 24.75].map { Temperature(celsius: $0) }
    if let warmest = readings.max() {
        print("Warmest: " + warmest.description)
    }
    let average = readings.reduce(0.0) { $0 + $1.celsius } / Double(readings.count)
    print("Average:", average)
    ```

    ## Code: Fetching and Grouping in JavaScript

    ```javascript
    // Group a list of orders by customer and sum their totals.
    function groupTotals(orders) {
      const totals = new Map();
      for (const { customer, amount } of orders) {
        totals.set(customer, (totals.get(customer) ?? 0) + amount);
      }
      return [...totals.entries()]
        .map(([customer, total]) => ({ customer, total: Math.round(total * 100) / 100 }))
        .sort((a, b) => b.total - a.total);
    }

    async function loadOrders(url) {
      const response = await fetch(url, { headers: { Accept: "application/json" } });
      if (!response.ok) {
        throw new Error(`request failed: ${response.status}`);
      }
      return response.json();
    }

    const sample = [
      { customer: "ana", amount: 19.99 },
      { customer: "ben", amount: 5.5 },
      { customer: "ana", amount: 7.25 },
    ];
    console.log(groupTotals(sample)); // [{ customer: 'ana', total: 27.24 }, { customer: 'ben', total: 5.5 }]
    ```

    ## A Shell Snippet for Tidy Backups

    ```bash
    #!/usr/bin/env bash
    set -euo pipefail

    SRC="${HOME}/Documents"
    DEST="/mnt/backup/$(date +%Y-%m-%d)"
    mkdir -p "$DEST"

    # Copy only files changed in the last 7 days, skipping temporary files.
    find "$SRC" -type f -mtime -7 ! -name '*.tmp' -print0 \\
      | while IFS= read -r -d '' file; do
          rel="${file#"$SRC"/}"
          mkdir -p "$DEST/$(dirname "$rel")"
          cp -p "$file" "$DEST/$rel"
        done

    du -sh "$DEST" | awk '{ print "backup size: " $1 }'
    ls "$DEST" | wc -l
    ```

    ## Configuration in JSON

    ```json
    {
      "name": "garden-sensor",
      "version": "1.4.2",
      "enabled": true,
      "location": { "lat": 59.3293, "lon": 18.0686, "label": "greenhouse B" },
      "sampleIntervalSeconds": 300,
      "thresholds": {
        "soilMoisture": { "min": 0.25, "max": 0.6 },
        "temperatureC": { "min": 4, "max": 35.5 }
      },
      "channels": ["moisture", "temperature", "light"],
      "owner": null,
      "tags": []
    }
    ```

    ## A Little Mathematics

    The number π is approximately 3.14159, and e is approximately 2.71828. A quadratic such as x^2 + 2x + 1 = 0 can be factored as (x + 1)^2 = 0, so its only root is x = -1. More generally, the roots of ax^2 + bx + c = 0 are x = (-b ± sqrt(b^2 - 4ac)) / (2a), provided a ≠ 0. If the discriminant b^2 - 4ac is negative, the roots are complex: for x^2 + 4 = 0 they are x = 2i and x = -2i.

    Percentages trip people up more often than equations do. A price that rises by 20% and then falls by 20% does not return to where it started: $50.00 becomes $60.00, and then $48.00, a net loss of 4%. A savings account paying 3.5% per year turns €1,000 into about €1,187.69 after five years, because 1.035^5 ≈ 1.18769. The sum 1 + 2 + 3 + … + n equals n(n + 1)/2, so the numbers from 1 to 100 add up to 5,050. A right triangle with legs 3 and 4 has a hypotenuse of 5, since 3^2 + 4^2 = 9 + 16 = 25 = 5^2. And for small angles measured in radians, sin(x) ≈ x, which is why sin(0.01) is about 0.0099998.

    ## A Few Words From Elsewhere

    On a rainy afternoon in Lisbon, a traveller ordered a café and a pastel de nata, and felt a sudden déjà vu: the same tiled façade, the same waiter, the same song on the radio. Her phrasebook offered help in several languages at once: "¿Dónde está la estación?", "Où est la gare ?", "Wo ist der Bahnhof?" She wrote a postcard that began "Liebe Grüße aus Portugal" and ended "à bientôt", which she admitted was a naïve mix of three languages. Later, at a Swedish friend's party, there was a smörgåsbord, a jalapeño dip that nobody touched, and a crème brûlée that everybody did. Obrigada, merci, danke, gracias, tack. 😊

    ## Frequently Asked Questions

    **Q: How often should I back up my files?**
    A: As often as you can afford to lose work. For most people, an automatic daily backup plus a weekly copy kept somewhere else is a sensible minimum.

    **Q: Why does my bread come out flat?**
    A: Usually the dough has over-proofed, which means the yeast ran out of food and the gluten could no longer hold the gas. Try a shorter second rise, or a slightly cooler kitchen.

    ## Notes From a Small Experiment

    Last spring I kept two identical tomato seedlings on the same windowsill for six weeks. One was watered every day with a little water; the other was watered every third day with a lot. By week six the first plant was 31 cm tall and the second was 38 cm, with noticeably thicker stems. One pair of plants proves nothing, of course, but the result matches the common advice that deep, infrequent watering encourages roots to grow downward in search of moisture. This year I will try it with ten plants in each group. 📚

    ## Closing Thoughts

    Good tools share a quality that is easy to overlook: they tell you what they are doing. A lighthouse does not hide its beam, a tide table shows its sources, and a careful program reports its errors instead of guessing. Whatever you build, make it honest about its own limits, and the people who rely on it will learn to trust it. ✅
    """
}
