"""Word pools, templates and tiny facts for the `demo_text` adapter (no logic beyond lookups)."""
from __future__ import annotations

STOP = set("""
a an the of to in on for and or but is are was were be been being do does did i you me my your
it its this that these those what which who whom how why when where can could would should will
shall may might please tell give show write explain describe about with from by as at into
than then so if just some any all very really us we our they them their he she his her there here
work works working mean means thing things stuff also kind sort like want need let lets
more most much many one ones hey ok okay say simple simply terms briefly short quick quickly
""".split())

# Short facts a high-quality model weaves into "explain" answers (keyword -> sentences).
FACTS: dict[str, list[str]] = {
    "photosynthesis": [
        "Plants capture sunlight with the green pigment chlorophyll.",
        "They combine carbon dioxide from the air with water to build glucose.",
        "Oxygen is released as a by-product, which is why forests matter for the air we breathe.",
    ],
    "gravity": [
        "Every mass attracts every other mass, and the pull weakens with the square of the distance.",
        "Gravity keeps the Moon in orbit and makes dropped objects accelerate at about 9.8 m/s² on Earth.",
        "Einstein described it as the curvature of spacetime caused by mass and energy.",
    ],
    "black hole": [
        "A black hole forms when so much mass is packed into a small region that not even light can escape.",
        "Its boundary is called the event horizon.",
        "Many form when very massive stars collapse at the end of their lives.",
    ],
    "internet": [
        "The internet is a network of networks that exchange data in small packets.",
        "Protocols such as TCP/IP decide how packets are addressed and reassembled.",
        "The web is one service running on top of it, alongside e-mail and video calls.",
    ],
    "machine learning": [
        "Machine learning fits a model to examples instead of hand-writing every rule.",
        "The model is adjusted to reduce its error on training data.",
        "It is then checked on data it has never seen, to make sure it generalises.",
    ],
    "rainbow": [
        "A rainbow appears when sunlight is refracted, reflected and dispersed inside raindrops.",
        "Each colour bends by a slightly different angle, which spreads white light into a spectrum.",
        "You see one only with the Sun behind you and rain in front of you.",
    ],
    "volcano": [
        "A volcano is an opening where molten rock, called magma, reaches the surface.",
        "Pressure from gas dissolved in the magma drives eruptions.",
        "Most volcanoes sit along the edges of tectonic plates.",
    ],
    "dna": [
        "DNA is a long molecule that stores genetic instructions in four bases: A, C, G and T.",
        "Its two strands twist into a double helix and pair A with T and C with G.",
        "Cells copy DNA before they divide, so each new cell gets the instructions.",
    ],
    "climate change": [
        "Climate change is the long-term warming of the planet driven mainly by greenhouse gases.",
        "Burning fossil fuels adds carbon dioxide, which traps extra heat in the atmosphere.",
        "Effects include rising seas, heatwaves and shifting rainfall patterns.",
    ],
    "sky": [
        "Sunlight contains every colour, and air molecules scatter short blue wavelengths much more than red ones.",
        "This is called Rayleigh scattering, and it sends blue light across the whole sky towards your eyes.",
        "At sunset the light crosses more air, most blue is scattered away, and reds and oranges remain.",
    ],
    "prime": [
        "A prime number is a whole number greater than 1 whose only divisors are 1 and itself.",
        "The first primes are 2, 3, 5, 7, 11 and 13; 2 is the only even prime.",
        "Every whole number above 1 can be written as a product of primes in exactly one way.",
    ],
    "sleep": [
        "Adults usually need seven to nine hours of sleep a night.",
        "A regular schedule and a dark, cool room make it easier to fall asleep.",
        "Caffeine late in the day and bright screens before bed both delay sleep.",
    ],
    "vaccine": [
        "A vaccine trains the immune system to recognise a germ without causing the disease.",
        "It does this with a harmless piece, a weakened form, or instructions to make one protein.",
        "Memory cells then respond quickly if the real germ ever shows up.",
    ],
}

EXPLAIN_POINTS = [
    ("Core idea", "At its heart, {t} is about how a few simple parts interact to produce a larger effect."),
    ("How it works", "{T} works step by step: something goes in, a process transforms it, and a result comes out."),
    ("Why it matters", "Understanding {t} helps you predict what will happen and make better decisions."),
    ("An example", "A good way to see {t} in action is to find one everyday case and trace it from start to finish."),
    ("Common misconception", "People often treat {t} as magic, but it follows clear rules once you look closely."),
]

HOWTO_STEPS = [
    ("Prepare", "Gather everything you need to {t} before you start, so you are not interrupted."),
    ("Plan", "Read through the whole process once and decide what a good result looks like."),
    ("Start small", "Do the first step carefully and check the result before moving on."),
    ("Adjust", "Compare what you have with your goal and correct small problems early."),
    ("Finish", "Repeat until you {t} the way you want, then tidy up."),
    ("Reflect", "Write down what worked, so the next time you {t} it goes faster."),
]

LIST_ITEMS = [
    ("Learn the basics", "Start with the fundamentals of {t} before anything fancy."),
    ("Set a routine", "Set aside a regular, short time for {t}."),
    ("Find mentors", "Learn from people who are already good at {t}."),
    ("Keep notes", "Write down what works and what doesn't with {t}."),
    ("Build something", "Try a small project built around {t}."),
    ("Get feedback", "Ask for honest feedback early, not at the end."),
    ("Measure progress", "Track one simple number that shows whether {t} is improving."),
    ("Stay curious", "Read one new article or example about {t} each week."),
]

DEFAULT_POINTS = [
    ("Context", "The first thing to consider about {t} is what you actually want to achieve."),
    ("Options", "There are usually a few reasonable approaches to {t}, each with trade-offs."),
    ("Recommendation", "For most people, the simplest approach to {t} is the best place to start."),
    ("Next step", "Once that works, you can refine your approach to {t} with more detail."),
]

COMPARE_ASPECTS = [
    ("Ease of getting started", ["easy", "moderate", "demanding"]),
    ("Typical use", ["an everyday choice", "a specialist choice", "a favourite of enthusiasts"]),
    ("Cost", ["low", "medium", "high"]),
    ("Popularity", ["widely popular", "a growing niche", "a long-standing classic"]),
]

POEM_COUPLETS = [
    ("The {t} awakes beneath the morning light,", "and holds the quiet promise of the night."),
    ("It hums a tune no other voice could sing,", "a steady pulse of every living thing."),
    ("Through wind and rain the {t} stands its ground,", "where only patient hearts are ever found."),
    ("We learn from {t} how small things grow,", "how rivers carve the stones they come to know."),
    ("And when the day has faded into grey,", "the {t} remains to light another way."),
    ("So let the {t} be sung in every tongue,", "a story old, and yet forever young."),
]

OFF_TOPICS = ["the weather", "my favourite sandwich", "traffic lights", "the history of spoons",
              "parking rules", "socks", "the colour beige", "elevator music", "a cat I once met"]

OFF_SENTENCES = [
    "I think {o} is very important for many reasons.",
    "Many people says that {o} is good, and that is true.",
    "{O} is a thing that exist in the world.",
    "In conclusion, {o} is what it is.",
    "Also there is many things to say about {o}.",
    "This is why {o} matter so much to everyone.",
    "Some people like {o} and some people do not like {o}.",
]

GIBBER_SYLLABLES = ["zor", "qua", "blin", "fep", "drex", "mo", "vlu", "skri", "pa", "tok", "gru",
                    "nef", "ix", "wub", "ramb", "ulo", "kest", "ply", "oom", "vard"]

TRANSLATIONS: dict[str, dict[str, str]] = {
    "french": {"hello": "bonjour", "good morning": "bonjour", "good night": "bonne nuit",
               "thank you": "merci", "thanks": "merci", "goodbye": "au revoir", "please": "s'il vous plaît",
               "cat": "chat", "dog": "chien", "water": "eau", "love": "amour", "friend": "ami",
               "house": "maison", "book": "livre", "yes": "oui", "no": "non", "i love you": "je t'aime",
               "how are you": "comment allez-vous", "cheese": "fromage", "bread": "pain"},
    "spanish": {"hello": "hola", "good morning": "buenos días", "good night": "buenas noches",
                "thank you": "gracias", "thanks": "gracias", "goodbye": "adiós", "please": "por favor",
                "cat": "gato", "dog": "perro", "water": "agua", "love": "amor", "friend": "amigo",
                "house": "casa", "book": "libro", "yes": "sí", "no": "no", "i love you": "te quiero",
                "how are you": "¿cómo estás?", "cheese": "queso", "bread": "pan"},
    "german": {"hello": "hallo", "good morning": "guten Morgen", "good night": "gute Nacht",
               "thank you": "danke", "thanks": "danke", "goodbye": "auf Wiedersehen", "please": "bitte",
               "cat": "Katze", "dog": "Hund", "water": "Wasser", "love": "Liebe", "friend": "Freund",
               "house": "Haus", "book": "Buch", "yes": "ja", "no": "nein", "i love you": "ich liebe dich",
               "how are you": "wie geht es dir?", "cheese": "Käse", "bread": "Brot"},
    "italian": {"hello": "ciao", "good morning": "buongiorno", "good night": "buonanotte",
                "thank you": "grazie", "thanks": "grazie", "goodbye": "arrivederci", "please": "per favore",
                "cat": "gatto", "dog": "cane", "water": "acqua", "love": "amore", "friend": "amico",
                "house": "casa", "book": "libro", "yes": "sì", "no": "no", "i love you": "ti amo",
                "how are you": "come stai?", "cheese": "formaggio", "bread": "pane"},
}

# name -> {language: (code, explanation)}; buggy variants for medium / poor models.
CODE_TASKS: dict[str, dict[str, str]] = {
    "linked_list": {
        "python": 'class Node:\n    def __init__(self, value, next=None):\n        self.value = value\n        self.next = next\n\n\ndef reverse_list(head: Node | None) -> Node | None:\n    """Reverse a singly linked list in place and return the new head."""\n    prev = None\n    while head is not None:\n        head.next, prev, head = prev, head, head.next\n    return prev',
        "javascript": 'function reverseList(head) {\n  let prev = null;\n  while (head) {\n    [head.next, prev, head] = [prev, head, head.next];\n  }\n  return prev;\n}',
        "bug": 'def reverse_list(head):\n    prev = None\n    while head:\n        head.next = prev\n        head = head.next\n    return prev',
    },
    "csv": {
        "python": 'import csv\n\n\ndef read_rows(path: str) -> list[dict[str, str]]:\n    """Read a CSV file with a header row into a list of dicts."""\n    with open(path, newline="", encoding="utf-8") as fh:\n        return list(csv.DictReader(fh))\n\n\nfor row in read_rows("people.csv"):\n    print(row["name"])',
        "javascript": 'const fs = require("fs");\n\nfunction readRows(path) {\n  const [header, ...lines] = fs.readFileSync(path, "utf8").trim().split("\\n");\n  const keys = header.split(",");\n  return lines.map((line) => Object.fromEntries(line.split(",").map((v, i) => [keys[i], v])));\n}',
        "bug": 'def read_rows(path):\n    return open(path).read().split(",")',
    },
    "reverse": {
        "python": 'def reverse_string(text: str) -> str:\n    """Return text reversed."""\n    return text[::-1]\n\n\nprint(reverse_string("arena"))  # anera',
        "javascript": 'function reverseString(text) {\n  return [...text].reverse().join("");\n}\n\nconsole.log(reverseString("arena")); // anera',
        "bug": 'def reverse_string(text):\n    return text[::1]',
    },
    "factorial": {
        "python": 'def factorial(n: int) -> int:\n    """Return n! for n >= 0."""\n    if n < 0:\n        raise ValueError("n must be non-negative")\n    result = 1\n    for k in range(2, n + 1):\n        result *= k\n    return result\n\n\nprint(factorial(5))  # 120',
        "javascript": 'function factorial(n) {\n  if (n < 0) throw new RangeError("n must be non-negative");\n  let result = 1;\n  for (let k = 2; k <= n; k++) result *= k;\n  return result;\n}\n\nconsole.log(factorial(5)); // 120',
        "bug": 'def factorial(n):\n    result = 1\n    for k in range(1, n):\n        result *= k\n    return result',
    },
    "fibonacci": {
        "python": 'def fibonacci(n: int) -> list[int]:\n    """Return the first n Fibonacci numbers."""\n    seq = []\n    a, b = 0, 1\n    for _ in range(n):\n        seq.append(a)\n        a, b = b, a + b\n    return seq\n\n\nprint(fibonacci(8))  # [0, 1, 1, 2, 3, 5, 8, 13]',
        "javascript": 'function fibonacci(n) {\n  const seq = [];\n  let [a, b] = [0, 1];\n  for (let i = 0; i < n; i++) {\n    seq.push(a);\n    [a, b] = [b, a + b];\n  }\n  return seq;\n}\n\nconsole.log(fibonacci(8)); // [0, 1, 1, 2, 3, 5, 8, 13]',
        "bug": 'def fibonacci(n):\n    a, b = 1, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a',
    },
    "prime": {
        "python": 'def is_prime(n: int) -> bool:\n    """Return True if n is a prime number."""\n    if n < 2:\n        return False\n    k = 2\n    while k * k <= n:\n        if n % k == 0:\n            return False\n        k += 1\n    return True\n\n\nprint([p for p in range(20) if is_prime(p)])',
        "javascript": 'function isPrime(n) {\n  if (n < 2) return false;\n  for (let k = 2; k * k <= n; k++) {\n    if (n % k === 0) return false;\n  }\n  return true;\n}',
        "bug": 'def is_prime(n):\n    for k in range(2, n):\n        if n % k == 0:\n            return False\n    return True  # says 0 and 1 are prime',
    },
    "palindrome": {
        "python": 'def is_palindrome(text: str) -> bool:\n    """True if text reads the same backwards, ignoring case and spaces."""\n    cleaned = [c.lower() for c in text if c.isalnum()]\n    return cleaned == cleaned[::-1]\n\n\nprint(is_palindrome("Never odd or even"))  # True',
        "javascript": 'function isPalindrome(text) {\n  const s = text.toLowerCase().replace(/[^a-z0-9]/g, "");\n  return s === [...s].reverse().join("");\n}',
        "bug": 'def is_palindrome(text):\n    return text == text.reverse()',
    },
    "sort": {
        "python": 'def sort_numbers(values: list[float]) -> list[float]:\n    """Return a new list sorted in ascending order."""\n    return sorted(values)\n\n\nprint(sort_numbers([3, 1, 2]))  # [1, 2, 3]',
        "javascript": 'function sortNumbers(values) {\n  return [...values].sort((a, b) => a - b);\n}',
        "bug": 'def sort_numbers(values):\n    return values.sort()',
    },
    "fizzbuzz": {
        "python": 'for i in range(1, 16):\n    if i % 15 == 0:\n        print("FizzBuzz")\n    elif i % 3 == 0:\n        print("Fizz")\n    elif i % 5 == 0:\n        print("Buzz")\n    else:\n        print(i)',
        "javascript": 'for (let i = 1; i <= 15; i++) {\n  console.log(i % 15 === 0 ? "FizzBuzz" : i % 3 === 0 ? "Fizz" : i % 5 === 0 ? "Buzz" : i);\n}',
        "bug": 'for i in range(1, 15):\n    if i % 3 == 0:\n        print("Fizz")\n    elif i % 15 == 0:\n        print("FizzBuzz")',
    },
}

STORY_BEATS = [
    "Once, at the edge of a quiet town, there was {t}, and nobody paid it much attention.",
    "Then one stormy evening everything changed: a small mistake put {t} at the centre of everyone's worries.",
    "Step by step, with patience and a little courage, the problem was solved, and the town learned something new.",
    "By morning the storm had passed, and people looked at {t} with new respect.",
]

CODE_KEYWORDS = {
    "reverse": "reverse", "factorial": "factorial", "fibonacci": "fibonacci", "prime": "prime",
    "reverses": "reverse", "reversing": "reverse", "reversed": "reverse", "factorials": "factorial",
    "primes": "prime", "palindromes": "palindrome", "palindrome": "palindrome", "sort": "sort", "sorts": "sort", "sorting": "sort", "fizzbuzz": "fizzbuzz",
}
