"""Letters and symbols copied by hand from the Hershey fonts' single-stroke glyphs.

The Hershey fonts (A. V. Hershey, US National Bureau of Standards, 1967; public domain)
draw every glyph as pen strokes, not outlines: what a person with a pen draws, unlike the
typeset letters of ``negatives``. The ``HersheyFonts`` package (MIT) ships them offline.
Each glyph is copied with the family's hand (``drawing_pen.HANDS``: slant, rotation,
aspect, a slow wobble, each stroke a little off) and drawn with the page's round pen.

Look-alikes left out, because a person could read them as a digit (and a digit refused is
a person told their digit is not one):

- Latin: O o D Q (0), I i l j J | / \\ ! ( ) [ ] { } (1), Z z (2), S s $ § (5), b G & (6),
  T Y (7, 4), B (8), g q (9). In script and italic fonts also the single-story a (a small
  9) and f (loops like an 8, or descends like a 1); in script fonts E (a reversed 3), F
  (a 7 with a bar) and L (loops like a 2); in Fraktur D (0), F and T (like J and I), H
  (5), L (2), V (like B), the long-s f and t (1), v (like b), x (a 3); in the Italian
  gothic E (6), F, L, f and t; in italics t (a 1 with a tick). The ! too: drawn with
  the page's pen, at 28x28, it is a 1 with a dot under it.
- Greek: Β β (8), Γ (7), Ζ ζ (2), Θ θ ϑ Ο ο σ (0, 6), Ι ι (1), Τ τ Υ (7, 4), δ (6), ε ξ
  (3), γ (an open 8).
- Cyrillic: Б б (6), В в (8), Г г Т т (7), З з (3), О о (0), Ч ч (4).
- Symbols: every digit; a dot, a comma, a colon or three dots (a blob); circles, rings
  and the symbols built on one (⊙ ⊕ ° ● and the astrological ☿ ♀ ♂ ♅ ♉: 0, 6, 8, 9);
  ∂ (6), ∃ ∈ (3), ∥ (11), ⊥ (1 with a foot), ∫ and every tall bar or bracket (1); ♃ ♄
  (4); ♋ (69), ♌ ♑ (2, 6); and in music the notes, rests, clefs, ♮ and ♭ (0, 7, 8, 6).
  Operators and punctuation kept: + − × ÷ ± = ≠ ≡ < > ≤ ≥ ? ! # % * @ ^ ~ √ ∞ ∝ ∇ ∏ Σ
  ⊂ ⊃ ∪ ∩ ∠ ℵ, arrows, shapes, stars, suits, trees and the like.
- The Japanese font is left out: its kanji for one, two and three are strokes, and some
  kana look like digits (フ, ワ).

Two families share no font, and no held-out glyph is drawn as any glyph of a training font
(several fonts share glyphs: the simplex Roman, Greek and math fonts their punctuation).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from HersheyFonts import HersheyFonts

from worker.trainer.drawing_pen import HANDS, Canvas, Pen, copied

#: The look-alikes left out, in short (the model card says it; the docstring says why).
LEFT_OUT = (
    "O o D Q (0), I i l j J | / ! and brackets (1), Z z (2), S s $ (5), b G & (6), T Y (7, 4), "
    "B (8), g q (9), the single-story a and the f of scripts and italics, Γ Ζ Θ Ι Ο Τ Υ β γ "
    "δ ε ζ θ ι ξ ο σ τ, Б В Г З О Т Ч, dots, rings and the symbols built on one, tall bars"
)
#: Operators and punctuation no one reads as a digit (Latin, Greek and Cyrillic fonts).
MARKS = "#%*+-<=>?@^~"
LATIN_UPPER = "ACEFHKLMNPRUVWX"
LATIN_LOWER = "acdefhkmnprtuvwxy"
ROMAN = LATIN_UPPER + LATIN_LOWER + MARKS


def without(keys: str, dropped: str) -> str:
    return "".join(k for k in keys if k not in dropped)


SCRIPT = without(ROMAN, "EFLaf")
ITALIC = without(ROMAN, "aft")
FRAKTUR = without(ROMAN, "DFHLVftvx")
ROTUNDA = without(ROMAN, "EFLft")
#: Greek fonts whose Latin keys give the Greek letter of the same sound (A Α, C Χ, D Δ...)
#: and whose keys give the Greek alphabet in order (A Α, B Β, C Γ, D Δ, E Ε, F Ζ...).
GREEK_BY_SOUND = "ACDEFHKLMNPRSWXY" + "acfhjklmnpruvwy" + MARKS
GREEK_BY_ORDER = "ADEGJKLMNPQRUVWX" + "agjklmpqtuvwx" + MARKS
#: The Cyrillic alphabet in order (A А, B Б, C В, D Г, E Д, F Е...).
CYRILLIC = "AEFGIJKLMNPQRTUVWYZ" + "aefgijklmnpqrtuvwyz" + MARKS


def codes(*numbers: int | range) -> str:
    return "".join(chr(n) for k in numbers for n in (k if isinstance(k, range) else [k]))


#: Shapes: fish, dashes, ⊓, ^, ground, ▽ □ △ ◇ ☆ + × *, filled ■ and triangles, flag,
#: boat, anchor, hammers, lamp, ✚, crescent, ✡, bell, palm, fir, sunrise, clover, † ‡,
#: ♠ ♡ ◇ ♣, the ligatures ff fi fl ffi ffl, a small ★ and ~.
SYMBOLIC = codes(60, 62, range(67, 72), range(73, 80), range(81, 89), 90, 91, range(93, 100))
SYMBOLIC += codes(102, 103, 104, 106, 107, range(109, 113), range(120, 125), 126, 127)
#: ± ∓ × % ≤ ≥ * + − ∏ Σ < = > ≠ ≡ ∝ ∞ √ ⊂ ∪ ⊃ ∩ → ↑ ← ↓ ∇ ℵ ÷ ∠ ~, then letters.
MATH = codes(33, 34, 35, 37, 38, 39, 42, 43, 45, range(58, 65), 94, 95, 98, 99)
MATH += codes(range(100, 104), range(105, 109), 110, 111, 119, 120, 124, 127)
MATH_LOWER = MATH + "".join(chr(ord(c) - 32) for c in LATIN_LOWER)  # a-z on keys A-Z
MATH_UPPER = MATH + LATIN_UPPER
#: ♓ ♆ ♇ ☾ ✳ ☊ ☋ ♈ ♊ ♍ ♏ ♐ ♒ ~, bold Roman capitals, italic small letters (not the
#: comet ☄: a ring with a tail, a 6).
ASTROLOGY = codes(33, 47, 58, 59, range(61, 65), 93, 96, 123, 124, 126, 127) + without(
    ITALIC, MARKS
)
#: ♯, two thick bars, ~, italic letters.
MUSIC = codes(39, 42, 64, 126) + without(ITALIC, MARKS)

#: Font -> the keys of its glyphs that are drawn, by family.
FONTS: dict[str, dict[str, str]] = {
    "training": {
        "futural": ROMAN,
        "rowmans": ROMAN,
        "timesr": ROMAN,
        "scripts": SCRIPT,
        "cursive": SCRIPT,
        # their marks are the duplex and triplex Romans', drawn by the held-out family
        "gothiceng": LATIN_UPPER + LATIN_LOWER,
        "gothgbt": LATIN_UPPER + LATIN_LOWER,
        "greek": GREEK_BY_SOUND,
        "greeks": GREEK_BY_ORDER,
        "cyrilc_1": CYRILLIC,
        "mathlow": MATH_LOWER,
        "mathupp": MATH_UPPER,
        "symbolic": SYMBOLIC,
    },
    "held_out": {
        "futuram": ROMAN,
        "rowmand": ROMAN,
        "rowmant": ROMAN,
        "timesrb": ROMAN,
        "timesi": ITALIC,
        "timesib": ITALIC,
        "scriptc": SCRIPT,
        "gothicger": FRAKTUR,
        "gothgrt": FRAKTUR,
        "gothicita": ROTUNDA,
        "gothitt": ROTUNDA,
        "greekc": GREEK_BY_ORDER,
        "timesg": GREEK_BY_SOUND,
        "astrology": ASTROLOGY,
        "music": MUSIC,
    },
}
#: Fonts whose letter keys hold symbols.
SYMBOL_FONTS = frozenset({"symbolic"})


@dataclass(frozen=True)
class Glyph:
    font: str
    key: str
    strokes: tuple[tuple[tuple[int, int], ...], ...]
    left: int
    width: int

    @property
    def kind(self) -> str:
        """``digit``, ``letter`` or ``symbol``: the symbol fonts keep symbols on letter keys
        (the math fonts on the small letters' keys)."""
        if self.key.isdigit():
            return "digit"
        symbols = self.font in SYMBOL_FONTS or (self.font.startswith("math") and self.key.islower())
        return "letter" if self.key.isalpha() and not symbols else "symbol"


@cache
def font(name: str) -> dict[str, Glyph]:
    """Every glyph of a Hershey font with strokes, by its key."""
    loader = HersheyFonts()
    loader.load_default_font(name)
    return {
        key: Glyph(
            name, key, tuple(tuple(map(tuple, s)) for s in g.strokes), g.left_offset, g.char_width
        )
        for key, g in loader.all_glyphs.items()
        if g.strokes
    }


def drawn(family: str) -> list[Glyph]:
    """Every glyph the family draws, each drawing once: letters, symbols and the digits
    that ``symbols.crossed_out`` scribbles over."""
    keys = {name: allowed + "0123456789" for name, allowed in FONTS[family].items()}
    chosen = (font(name).get(key) for name, allowed in keys.items() for key in allowed)
    unique = {g.strokes: g for g in chosen if g}
    return list(unique.values())


@cache
def glyphs(family: str, kind: str) -> tuple[Glyph, ...]:
    """The family's glyphs of a kind (``letter``, ``symbol`` or ``digit``); a held-out
    glyph is never drawn exactly as a glyph the training family draws."""
    taken = {g.strokes for g in drawn("training")} if family != "training" else set()
    return tuple(g for g in drawn(family) if g.kind == kind and g.strokes not in taken)


def strokes_of(row: list[Glyph]) -> list[list[tuple[float, float]]]:
    """The strokes of glyphs written side by side."""
    strokes, x = [], 0.0
    for g in row:
        strokes += [[(x + px - g.left, float(py)) for px, py in s] for s in g.strokes]
        x += g.width
    return strokes


def write(draw: Canvas, pen: Pen, row: list[Glyph], family: str) -> None:
    for stroke in copied(strokes_of(row), pen.rng, HANDS[family]):
        pen.line(draw, stroke)


def hershey_letter(draw: Canvas, pen: Pen, family: str) -> None:
    """A letter, or two or three of one font side by side (a short word)."""
    pool = glyphs(family, "letter")
    first = pool[int(pen.rng.integers(len(pool)))]
    same = [g for g in pool if g.font == first.font]
    count = 1 if pen.rng.random() < 0.7 else int(pen.rng.integers(2, 4))
    rest = [same[int(i)] for i in pen.rng.integers(len(same), size=count - 1)]
    write(draw, pen, [first, *rest], family)


def hershey_symbol(draw: Canvas, pen: Pen, family: str) -> None:
    """An operator, a punctuation mark or a symbol."""
    pool = glyphs(family, "symbol")
    write(draw, pen, [pool[int(pen.rng.integers(len(pool)))]], family)
