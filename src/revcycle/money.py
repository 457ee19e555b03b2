"""Exact money: integer minor units plus an ISO 4217 currency.

``Decimal`` appears only inside calculation code and is brought back to minor units by exactly one
function, :func:`round_to_minor`, which rounds half away from zero (ROUND_HALF_UP), the convention
of US payer fee schedules and of CMS pricing. Splitting uses :func:`allocate`, which never loses or
invents a cent. There is no ``float`` anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

from revcycle.errors import InvalidInput

# ISO 4217 minor units for the currencies we accept.
CURRENCY_EXPONENTS: dict[str, int] = {
    "USD": 2,
    "CAD": 2,
    "EUR": 2,
    "GBP": 2,
    "AUD": 2,
    "NZD": 2,
    "CHF": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "MXN": 2,
    "BRL": 2,
    "INR": 2,
    "ZAR": 2,
    "SGD": 2,
    "HKD": 2,
    "PHP": 2,
    "PLN": 2,
    "JPY": 0,
    "KRW": 0,
    "CLP": 0,
    "ISK": 0,
    "VND": 0,
    "BHD": 3,
    "KWD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
}


MAX_MINOR = 2**63 - 1  # BIGINT
MIN_MINOR = -(2**63)


class MoneyError(InvalidInput):
    code = "money.invalid"


class CurrencyMismatch(MoneyError):
    code = "money.currency_mismatch"


def exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise MoneyError(
            f"Unsupported currency {currency!r}",
            code="money.unsupported_currency",
            currency=currency,
        ) from None


def round_to_minor(value: Decimal, currency: str) -> int:
    """THE rounding function: a Decimal amount in major units -> integer minor units (half up)."""
    scaled = value.scaleb(exponent(currency))
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True, slots=True, order=False)
class Money:
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.amount_minor) is not int:
            raise TypeError("Money.amount_minor must be an int")
        exponent(self.currency)

    # construction -------------------------------------------------------------------------
    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, value: Decimal | str, currency: str) -> Money:
        """Exact conversion of a major-unit amount; refuses more decimals than the currency has
        and anything outside the signed 64-bit range of minor units the database stores."""
        try:
            dec = value if isinstance(value, Decimal) else Decimal(value)
        except (InvalidOperation, ValueError):
            raise MoneyError('not an amount; use a decimal string like "125.00"') from None
        if not dec.is_finite():
            raise MoneyError('not an amount; use a decimal string like "125.00"')
        exp = exponent(currency)
        if dec != 0 and dec.adjusted() + exp > 18:  # |minor| >= 10**19 cannot be stored
            raise MoneyError("the amount is out of range", code="money.out_of_range")
        with localcontext() as ctx:  # exact: enough digits for every admissible value
            ctx.prec = max(28, len(dec.as_tuple().digits) + exp + 2)
            scaled = dec.scaleb(exp)
            integral = scaled.to_integral_value()
        if scaled != integral:
            raise MoneyError(
                f"{currency} amounts have at most {exp} decimal places; got {dec}",
                code="money.too_many_decimals",
                value=str(dec),
                currency=currency,
                max_decimals=exp,
            )
        minor = int(integral)
        if not MIN_MINOR <= minor <= MAX_MINOR:
            raise MoneyError("the amount is out of range", code="money.out_of_range")
        return cls(minor, currency)

    # arithmetic ---------------------------------------------------------------------------
    def _check(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError("Money arithmetic needs Money")
        if other.currency != self.currency:
            raise CurrencyMismatch(
                f"cannot combine {self.currency} with {other.currency}",
                left=self.currency,
                right=other.currency,
            )

    def __add__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount_minor, self.currency)

    def __mul__(self, factor: int) -> Money:
        if type(factor) is not int:
            raise TypeError("multiply Money by an int; use calc code with Decimal for rates")
        return Money(self.amount_minor * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        self._check(other)
        return self.amount_minor < other.amount_minor

    def __le__(self, other: Money) -> bool:
        self._check(other)
        return self.amount_minor <= other.amount_minor

    def __gt__(self, other: Money) -> bool:
        self._check(other)
        return self.amount_minor > other.amount_minor

    def __ge__(self, other: Money) -> bool:
        self._check(other)
        return self.amount_minor >= other.amount_minor

    def is_zero(self) -> bool:
        return self.amount_minor == 0

    def is_positive(self) -> bool:
        return self.amount_minor > 0

    def is_negative(self) -> bool:
        return self.amount_minor < 0

    # conversion ---------------------------------------------------------------------------
    def to_decimal(self) -> Decimal:
        return Decimal(self.amount_minor).scaleb(-exponent(self.currency))

    def format(self) -> str:
        """Plain decimal string with exactly the currency's decimals ("125.00", "-3.50", "900")."""
        exp = exponent(self.currency)
        if exp == 0:
            return str(self.amount_minor)
        sign = "-" if self.amount_minor < 0 else ""
        whole, frac = divmod(abs(self.amount_minor), 10**exp)
        return f"{sign}{whole}.{frac:0{exp}d}"

    def __str__(self) -> str:
        return f"{self.format()} {self.currency}"

    def times_rate(self, rate: Decimal) -> Money:
        """Multiply by a Decimal rate (e.g. a percentage as 0.15), rounded once."""
        return Money(round_to_minor(self.to_decimal() * rate, self.currency), self.currency)


def allocate(total: Money, weights: Sequence[int]) -> list[Money]:
    """Split ``total`` in proportion to non-negative integer ``weights`` without losing a cent.

    Largest-remainder method: each share is floored, then the leftover minor units go one each to
    the shares with the largest remainders (earlier position wins a tie). Negative totals are split
    as the negation of the positive split, so allocate(-x) == [-p for p in allocate(x)].
    """
    if not weights:
        raise ValueError("allocate() needs at least one weight")
    if any(type(w) is not int or w < 0 for w in weights):
        raise ValueError("weights must be non-negative integers")
    weight_sum = sum(weights)
    if weight_sum == 0:
        raise ValueError("weights must not all be zero")
    if total.amount_minor < 0:
        return [-m for m in allocate(-total, weights)]
    amount = total.amount_minor
    shares = [amount * w // weight_sum for w in weights]
    remainders = [amount * w % weight_sum for w in weights]
    leftover = amount - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:leftover]:
        shares[i] += 1
    return [Money(s, total.currency) for s in shares]


def sum_money(items: Sequence[Money], currency: str) -> Money:
    total = Money.zero(currency)
    for item in items:
        total = total + item
    return total
