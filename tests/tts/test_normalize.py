"""Speakable normalisation: what the voice says for money, identifiers, dates, times and numbers."""

from __future__ import annotations

import pytest

from speech.tts.normalize import cardinal, clock, money, normalize_text, ordinal, year

MONEY = [
    ("$1,200.50", "one thousand two hundred dollars and fifty cents"),
    ("$5", "five dollars"),
    ("$0.99", "ninety nine cents"),
    ("$0.01", "one cent"),
    ("$1", "one dollar"),
    ("$1.00", "one dollar"),
    ("$1.01", "one dollar and one cent"),
    ("$5.5", "five dollars and fifty cents"),
    ("$.50", "fifty cents"),
    ("$0", "zero dollars"),
    ("-$20.50", "minus twenty dollars and fifty cents"),
    ("$1,000,000", "one million dollars"),
    ("$1.2 million", "one point two million dollars"),
    ("$3k", "three thousand dollars"),
    ("10 USD", "ten dollars"),
    ("EUR 5.50", "five euros and fifty cents"),
    ("€0.50", "fifty cents"),
    ("£1.01", "one pound and one penny"),
    ("£2.20", "two pounds and twenty pence"),
    ("5¢", "five cents"),
    (
        "Your balance is $1,200.50.",
        "Your balance is one thousand two hundred dollars and fifty cents.",
    ),
]

IDENTIFIERS = [
    ("ending in 4321", "ending in four three two one"),
    ("Your card ****4321 was charged.", "Your card ending in four three two one was charged."),
    ("card ending in ****4321", "card ending in four three two one"),
    ("XXXX-XXXX-XXXX-4321", "ending in four three two one"),
    ("xxxx 0042", "ending in zero zero four two"),
    ("last four digits 4321", "last four digits four three two one"),
    ("12345", "one two three four five"),
    ("0042", "zero zero four two"),
    ("PIN 1234", "pin one two three four"),
    ("extension 204", "extension two zero four"),
    ("Account number 12345678.", "Account number one two three four, five six seven eight."),
    (
        "Your reference number is 98765432.",
        "Your reference number is nine eight seven six, five four three two.",
    ),
    ("Ref #12345", "Ref number one two three four five"),
    ("#42", "number four two"),
    ("No. 7", "number seven"),
    ("routing number 021000021", "routing number zero two one, zero zero zero, zero two one"),
    (
        "1234567890123456",
        "one two three four, five six seven eight, nine zero one two, three four five six",
    ),
    (
        "4111 1111 1111 1111",
        "four one one one, one one one one, one one one one, one one one one",
    ),
    ("1-800-555-0199", "one, eight zero zero, five five five, zero one nine nine"),
    ("(800) 555-0199", "eight zero zero, five five five, zero one nine nine"),
    ("call 911", "call nine one one"),
]

DATES_AND_TIMES = [
    ("2026-12-05", "December fifth, twenty twenty six"),
    ("December 5", "December fifth"),
    ("Dec 5th, 2026", "December fifth, twenty twenty six"),
    ("Sept. 30", "September thirtieth"),
    ("12/05/2026", "December fifth, twenty twenty six"),
    ("5 December 2026", "the fifth of December, twenty twenty six"),
    ("on the 5th of December", "on the fifth of December"),
    ("December 2026", "December twenty twenty six"),
    ("due on 2026-01-15.", "due on January fifteenth, twenty twenty six."),
    ("2026-02-30", "two zero two six, zero two, three zero"),
    ("in 2026", "in twenty twenty six"),
    ("since 1999", "since nineteen ninety nine"),
    ("by 2005", "by two thousand five"),
    ("9:30 am", "nine thirty AM"),
    ("9:30 a.m. tomorrow", "nine thirty AM tomorrow"),
    ("at 9:30 a.m.", "at nine thirty AM."),
    ("9:05", "nine oh five"),
    ("9:00 PM", "nine PM"),
    ("9 am", "nine AM"),
    ("14:30", "two thirty PM"),
    ("00:15", "twelve fifteen AM"),
    ("12:00", "twelve o'clock"),
    ("Open at 9 a.m. Call us.", "Open at nine AM. Call us."),
    ("from 9 a.m. to 5 p.m. daily", "from nine AM to five PM daily"),
    ("24/7", "twenty four seven"),
    ("on 11/22", "on November twenty second"),
    ("due by 3/1.", "due by March first."),
    ("between 11/22 and 11/30", "between November twenty second and November thirtieth"),
    ("on 13/45", "on thirteen/forty five"),
    ("9am-5pm", "nine AM to five PM"),
    ("8:00-17:30", "eight o'clock to five thirty PM"),
    ("Open Mon-Fri.", "Open Monday to Friday."),
    ("Sat 10am", "Saturday ten AM"),
    ("Monday-Friday", "Monday to Friday"),
    ("until 8 p.m. EST, Monday", "until eight PM EST, Monday"),
]

NUMBERS = [
    ("2.5%", "two point five percent"),
    ("10%", "ten percent"),
    ("100 %", "one hundred percent"),
    ("3rd", "third"),
    ("21st", "twenty first"),
    ("11th", "eleventh"),
    ("100th", "one hundredth"),
    ("1.5", "one point five"),
    ("0.25", "zero point two five"),
    ("1,234.56", "one thousand two hundred thirty four point five six"),
    ("1,200", "one thousand two hundred"),
    ("1200", "one thousand two hundred"),
    ("We have 2026 customers", "We have two thousand twenty six customers"),
    ("42", "forty two"),
    ("0", "zero"),
    ("-5 degrees", "minus five degrees"),
    ("3-5 business days", "three to five business days"),
    ("Press 1 for balances, 2 for cards.", "Press one for balances, two for cards."),
    ("version 1.2.3", "version one point two point three"),
    ("Half is 1/2.", "Half is one half."),
    ("$10/month", "ten dollars per month"),
]

WORDS = [
    ("Dr. Smith will see you.", "Doctor Smith will see you."),
    ("Mrs. Jones", "Missus Jones"),
    ("cards, e.g. Visa", "cards, for example Visa"),
    ("fees, taxes, etc.", "fees, taxes, et cetera."),
    ("Savings & Loans", "Savings and Loans"),
    ("Please enter your 4-digit PIN.", "Please enter your four-digit pin."),
    ("Never share your PINs.", "Never share your pins."),
    ("Use any ATM.", "Use any ATM."),
]

UNCHANGED = [
    "Hello, how can I help you today?",
    "May I have your name, please?",
    "I am sorry, I did not catch that.",
    "Would you like to hear that again? Say yes or no.",
    "Transferring you to an agent now.",
    "",
]


@pytest.mark.parametrize(("written", "spoken"), MONEY)
def test_money_is_read_as_dollars_and_cents(written: str, spoken: str) -> None:
    assert normalize_text(written) == spoken


@pytest.mark.parametrize(("written", "spoken"), IDENTIFIERS)
def test_identifiers_and_masked_numbers_are_read_digit_by_digit(written: str, spoken: str) -> None:
    assert normalize_text(written) == spoken


@pytest.mark.parametrize(("written", "spoken"), DATES_AND_TIMES)
def test_dates_and_times_are_read_naturally(written: str, spoken: str) -> None:
    assert normalize_text(written) == spoken


@pytest.mark.parametrize(("written", "spoken"), NUMBERS)
def test_numbers_percentages_and_ordinals_are_spelled(written: str, spoken: str) -> None:
    assert normalize_text(written) == spoken


@pytest.mark.parametrize(("written", "spoken"), WORDS)
def test_abbreviations_and_symbols_are_spelled_out(written: str, spoken: str) -> None:
    assert normalize_text(written) == spoken


@pytest.mark.parametrize("text", UNCHANGED)
def test_plain_text_is_unchanged(text: str) -> None:
    assert normalize_text(text) == text


def test_whole_reply_has_no_digits_or_symbols_left() -> None:
    reply = (
        "Your payment of $250.75 to account 12345678 is scheduled for 2026-12-05 at 9:30 am. "
        "Your card ****4321 has a 2.5% cash back rate, 3rd tier."
    )
    spoken = normalize_text(reply)
    assert not any(ch.isdigit() for ch in spoken)
    assert not any(ch in spoken for ch in "$%*#")
    assert "two hundred fifty dollars and seventy five cents" in spoken
    assert "account one two three four, five six seven eight" in spoken
    assert "December fifth, twenty twenty six" in spoken
    assert "nine thirty AM" in spoken
    assert "ending in four three two one" in spoken
    assert "two point five percent" in spoken
    assert "third tier" in spoken


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (7, "seven"),
        (13, "thirteen"),
        (20, "twenty"),
        (99, "ninety nine"),
        (100, "one hundred"),
        (101, "one hundred one"),
        (1000, "one thousand"),
        (1001, "one thousand one"),
        (20_000, "twenty thousand"),
        (999_999, "nine hundred ninety nine thousand nine hundred ninety nine"),
        (1_000_000, "one million"),
        (2_500_000_000, "two billion five hundred million"),
        (-42, "minus forty two"),
    ],
)
def test_cardinal_words(n: int, words: str) -> None:
    assert cardinal(n) == words


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (1, "first"),
        (2, "second"),
        (3, "third"),
        (4, "fourth"),
        (5, "fifth"),
        (8, "eighth"),
        (9, "ninth"),
        (12, "twelfth"),
        (20, "twentieth"),
        (22, "twenty second"),
        (31, "thirty first"),
        (100, "one hundredth"),
        (1000, "one thousandth"),
    ],
)
def test_ordinal_words(n: int, words: str) -> None:
    assert ordinal(n) == words


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (2026, "twenty twenty six"),
        (2000, "two thousand"),
        (2009, "two thousand nine"),
        (2010, "twenty ten"),
        (1999, "nineteen ninety nine"),
        (1905, "nineteen oh five"),
        (1900, "nineteen hundred"),
    ],
)
def test_years(n: int, words: str) -> None:
    assert year(n) == words


def test_clock_and_money_helpers() -> None:
    assert clock(9, 30, "am") == "nine thirty AM"
    assert clock(23, 45) == "eleven forty five PM"
    assert money("0.99") == "ninety nine cents"
    assert money("2", "£") == "two pounds"
