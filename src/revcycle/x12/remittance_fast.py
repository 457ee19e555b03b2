"""The streaming 835 reader behind :class:`~revcycle.x12.remittance.Reader835`.

It gives exactly what the general path gives (``X12Reader`` segments grouped by
``_transactions`` and read by ``parse_835_set``): the same ``Remittance`` and
``RemittanceFailure`` values, the same envelope errors and the same exceptions at the same
points, only several times faster. It differs in how the work is done, not in the rules:

* The text is read in the same chunks by the core reader's own buffer (``ChunkBuffer``: chunks,
  ISA detection, the end of the data), and every complete segment of a chunk is cut with one
  ``str.split`` of the segment terminator (line breaks removed from the whole block at once);
  no ``Segment`` object is made for a segment inside a set.
* The 835 segments are dispatched on their ID in one loop with the set's state in local
  variables, amounts become cents with string operations (``amount_minor``), dates with
  ``date.fromisoformat``, and the balancing sums are kept as the segments go.
* A CAS, DTM or SVC segment whose text was read before gives what it gave then (the
  adjustments, the date, the service line's values), without being read again: in an 835 the
  same texts come back claim after claim (the same codes, dates, charges and fee-schedule
  amounts). What is remembered depends only on the text: the memory is emptied when the
  delimiters or the set's adjustment group codes (4010/5010) change, the context (is there a
  claim, a line) is checked on every use, the values kept are immutable (lists are copied for
  each line), and at most ``_MEMO_SIZE`` texts are kept (then new texts are read as they come).
* The set's digest is computed from its segment texts in one call.

Anything unusual hands over to the general code: the envelope rules are the core's ``Envelope``
(fed with ``Segment`` objects for the envelope segments); a set holding a value the general
parser would reject or warn about, a segment out of place or an envelope segment is read by
``parse_835_set`` from ``Segment`` objects rebuilt from its text (so its error is the general
parser's, with the same code, segment and position); a set that does not balance gets its
messages from ``_balance``; blank segments and spaces around terminators are cleaned by a port
of the core tokenizer's per-segment rule (``_clean``). The fast path never decides an error or
a warning itself. ``tests/x12/test_835_fast.py`` compares both paths.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from revcycle.x12.core import (
    MAX_SET_SEGMENTS,
    ChunkBuffer,
    Delimiters,
    Envelope,
    Segment,
    Source,
    Transaction,
    X12Error,
    check_segment_id,
    set_too_long,
)
from revcycle.x12.remittance import (
    CLAIM_STATUSES,
    GROUPS_4010,
    GROUPS_5010,
    Adjustment,
    ClaimPayment,
    Remittance,
    RemittanceFailure,
    ServiceLine,
    _balance,
    _plb,
    amount_minor,
    parse_835_set,
)

_WS = " \t\x00\x0b\x0c"
_BREAKS_SET = frozenset({"ST", "GE", "IEA", "ISA"})  # a set open when one comes has no SE
_PAD = ("",) * 25  # X12 drops trailing empty elements: pad before indexing
_ONE = Decimal(1)
_from_iso = dt.date.fromisoformat
# At most this many segment texts are remembered (under 2 MB); once full, the memory keeps what
# it holds and new texts are read as they come (so a file of all-new values pays no churn).
_MEMO_SIZE = 4096
_DATES = frozenset({"472", "150", "151", "232", "233", "050", "405"})  # the DTMs read

# Adjustment is a frozen dataclass: its generated __init__ goes through object.__setattr__ per
# field. The slot descriptors set the same four fields directly (same class, same values).
_new = object.__new__
_set_group = Adjustment.__dict__["group"].__set__
_set_reason = Adjustment.__dict__["reason"].__set__
_set_amount = Adjustment.__dict__["amount_minor"].__set__
_set_quantity = Adjustment.__dict__["quantity"].__set__


class _Unusual(Exception):  # noqa: N818 - a hand-over signal, not an error
    """The fast path hands this set (or segment) over to the general code."""


# The commonest amount shape (two decimals) is read inline where amounts are most frequent:
#     whole, _, frac = value.partition("."); digits = whole + frac
#     int(digits) if len(frac) == 2 and digits.isdigit() and len(digits) <= 15 else _amount(value)
# ASCII digits give amount_minor's value (at most 13 whole digits, as amount_minor reads).
# Other Unicode decimal digits give the value Decimal (amount_minor's fallback) gives, and int()
# raises ValueError for other digit characters (superscripts): the set is then handed over like
# for any other unusual value.


class _Again(Exception):  # noqa: N818 - a control signal
    """Read the segment at the same index again (the block was cleaned from there)."""


def _amount(value: str) -> int:
    """``amount_minor`` with the shape of most amounts (``150``, ``150.5``, ``150.00``) read
    inline; anything else through ``amount_minor``; not an amount: _Unusual."""
    whole, dot, frac = value.partition(".")
    if len(frac) == 2:
        digits = whole + frac
    elif not dot:
        digits = whole + "00"
    elif len(frac) == 1:
        digits = whole + frac + "0"
    else:
        digits = ""  # "5." or more than two decimals: amount_minor decides
    if digits.isdigit() and digits.isascii() and len(digits) <= 15 and whole:
        return int(digits)
    minor = amount_minor(value) if value else None
    if minor is None:
        raise _Unusual
    return minor


def _day(value: str) -> dt.date | None:
    """``parse_date``'s rule (eight ASCII digits, a real date), or _Unusual."""
    if not value:
        return None
    if len(value) == 8 and value.isdigit() and value.isascii():
        try:
            return _from_iso(value)
        except ValueError:
            pass
    raise _Unusual


def _quantity(value: str) -> Decimal:
    try:
        dec = Decimal(value)
    except InvalidOperation:
        raise _Unusual from None
    if not dec.is_finite():
        raise _Unusual
    return dec


def _digest(raws: list[str], d: Delimiters) -> str:
    """``remittance._digest`` of the segments whose texts are ``raws``: elements joined by GS,
    components by US, repetitions by RS, one segment per line."""
    text = "\n".join(raws) + "\n"
    if d.repetition == "\x1f":  # replacing one after the other would not be the same
        text = text.replace(d.element, "\x1d").translate({ord(d.component): "\x1f", 0x1F: "\x1e"})
    else:
        text = text.replace(d.element, "\x1d").replace(d.component, "\x1f")
        if d.repetition:
            text = text.replace(d.repetition, "\x1e")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _clean(parts: list[str], start: int) -> tuple[list[str], list[int]]:
    """The core reader's per-segment cleaning (spaces stripped, blank segments dropped) of
    ``parts[start:]``: the kept segments and their indexes in ``parts``."""
    kept: list[str] = []
    index: list[int] = list(range(start))
    for i in range(start, len(parts)):
        raw = parts[i]
        if raw[:1] in _WS or raw[-1:] in _WS:
            raw = raw.strip(_WS)
        if raw:
            kept.append(raw)
            index.append(i)
    return parts[:start] + kept, index


def _ends_dirty(text: str, term: str) -> bool:
    """Whether some segment of ``text`` (line breaks removed) ends with a space, tab, NUL, VT or
    FF. Blank segments and segments starting with one are found in the loop (their ID is not
    one), so that only this one search of the block is needed."""
    if not text or text[-1] in _WS or " " + term in text:
        return True
    return "\t" in text or "\x00" in text or "\x0b" in text or "\x0c" in text


class FastReader835:
    """Iterate it once for the sets; ``errors`` holds the envelope errors found so far."""

    def __init__(self, src: Source, *, chunk_size: int) -> None:
        self._buffer = ChunkBuffer(src, chunk_size)
        self.errors: list[X12Error] = []
        self._env = Envelope(self.errors)
        self._current: Transaction | None = None  # a set read the general way
        self._seen = 0  # errors already attached to a set
        self._last: Segment | None = None  # the last segment handled the general way

    def _general(self, seg: Segment) -> Remittance | RemittanceFailure | None:
        """One segment the general way: ``X12Reader`` envelope rules, then ``_transactions``."""
        self._env.feed(seg)
        self._last = seg
        sid = seg.elements[0]
        if sid == "ST":
            interchange = self._env.interchange
            assert interchange is not None  # an ISA is always the first segment
            self._current = Transaction(interchange, self._env.group, [seg])
            return None
        tx = self._current
        if tx is None:
            return None
        tx.segments.append(seg)
        if len(tx.segments) > MAX_SET_SEGMENTS:
            raise set_too_long(sid, seg.position)
        if sid != "SE":
            return None
        self._current = None
        return self._close(tx)

    def _close(self, tx: Transaction) -> Remittance | RemittanceFailure:
        tx.errors.extend(self.errors[self._seen :])
        self._seen = len(self.errors)
        return parse_835_set(tx)

    def _to_general(self, raws: list[str], st_pos: int, tx: Transaction) -> None:
        """Hand the open set over to the general path (its segments so far are ``raws``)."""
        d = tx.segments[0].delimiters
        esep = d.element
        tx.segments = [Segment(r.split(esep), st_pos + i, d) for i, r in enumerate(raws)]
        self._env.seg_in_set = len(raws)
        self._current = tx

    def __iter__(self) -> Iterator[Remittance | RemittanceFailure]:  # noqa: C901, PLR0912, PLR0915
        src = self._buffer
        env = self._env
        known: set[str] = set()
        buf = ""
        pos = 0
        delims: Delimiters | None = None
        term = esep = comp = "~"
        position = 0  # of the last segment read
        last_raw = ""  # the last segment read by the fast path

        # The open set read by the fast path. mode: 0 none, 1 just after its ST, 2 in its body.
        mode = 0
        st_tx: Transaction | None = None  # its ST (and envelope headers), for a hand-over
        st_pos = 0
        raws: list[str] = []  # its segments from earlier blocks
        k0 = 0  # index of its first segment in the current block
        groups = GROUPS_5010
        is_4010 = False
        rem: Remittance | None = None
        claims: list[ClaimPayment] = []
        claim: ClaimPayment | None = None
        line: ServiceLine | None = None
        party: str | None = None
        ref_2u: str | None = None
        n1_id: str | None = None
        # Balancing as the segments go: what is left of each equation (0 when it holds).
        unbalanced = False
        line_rest = claim_rest = pr_rest = set_rest = 0
        # Segments read before whose reading depends only on their text (CAS, DTM, SVC, LX),
        # by their text: what they gave (immutable values; lists are copied).
        memo: dict[str, tuple[Any, ...]] = {}
        recall = memo.get
        room = _MEMO_SIZE  # texts it may still take

        while True:
            if delims is None:
                # Expect an ISA (the core reader's rules: the same code).
                src.pos = pos
                isa = src.read_isa(position)
                if isa is None:
                    break
                delims, elements = isa
                buf, pos = src.buf, src.pos
                position += 1
                term, esep, comp = delims.segment, delims.element, delims.component
                memo.clear()  # its segment texts were read with other delimiters
                room = _MEMO_SIZE
                out = self._general(Segment(elements, position, delims))
                if out is not None:
                    yield out
                continue

            j = buf.rfind(term, pos)
            if j < 0:
                src.pos = pos
                if src.no_terminator(term, esep, position):
                    buf, pos = src.buf, src.pos
                    continue
                break

            # Every complete segment in the buffer, cleaned as the core reader cleans each one.
            block_start = pos
            block = buf[pos:j]
            pos = j + 1
            text = block
            if term != "\r" and "\r" in text:
                text = text.replace("\r", "")
            if term != "\n" and "\n" in text:
                text = text.replace("\n", "")
            parts = text.split(term)
            index: list[int] | None = None  # original index of each kept segment, once cleaned
            if _ends_dirty(text, term):
                parts, index = _clean(parts, 0)
            base = position  # segment k of the block is at position base + k + 1
            k0 = 0
            stop = -1  # segments of the block read before an IEA or a new ISA cut it short
            at_isa = False
            k = 0
            while k < len(parts):
                try:
                    for k, raw in enumerate(parts[k:] if k else parts, k):  # noqa: B020, PLW2901
                        els = raw.split(esep)
                        sid = els[0]
                        if mode == 2:
                            if sid == "CAS":
                                target = line if line is not None else claim
                                if target is None:
                                    raise _Unusual
                                known_cas = recall(raw)
                                if known_cas is not None:
                                    made_t, total, is_pr = known_cas
                                    target.adjustments += made_t
                                else:
                                    n = len(els)
                                    group = els[1] if n > 1 else ""
                                    if group not in groups:
                                        raise _Unusual
                                    if n == 4:  # one reason and amount, no quantity
                                        reason = els[2]
                                        if not reason:
                                            raise _Unusual
                                        # _amount's commonest shape inline (note above _Again)
                                        whole, _, frac = els[3].partition(".")
                                        digits = whole + frac
                                        if (
                                            len(frac) == 2
                                            and digits.isdigit()
                                            and len(digits) <= 15
                                        ):
                                            total = int(digits)
                                        else:
                                            total = _amount(els[3])
                                        adj = _new(Adjustment)
                                        _set_group(adj, group)
                                        _set_reason(adj, reason)
                                        _set_amount(adj, total)
                                        _set_quantity(adj, None)
                                        made_t = (adj,)
                                    else:
                                        total = 0
                                        made: list[Adjustment] = []
                                        for i in range(2, min(n, 20), 3):
                                            reason = els[i]
                                            value = els[i + 1] if i + 1 < n else ""
                                            if not reason:
                                                if value:
                                                    raise _Unusual
                                                continue
                                            qty = els[i + 2] if i + 2 < n else ""
                                            amount = _amount(value)
                                            made.append(
                                                Adjustment(
                                                    group,
                                                    reason,
                                                    amount,
                                                    _quantity(qty) if qty else None,
                                                )
                                            )
                                            total += amount
                                        if not made:
                                            raise _Unusual
                                        made_t = tuple(made)
                                    target.adjustments += made_t
                                    is_pr = group == "PR"
                                    if room:
                                        memo[raw] = (made_t, total, is_pr)
                                        room -= 1
                                if line is not None:
                                    line_rest -= total
                                claim_rest -= total
                                if is_pr:
                                    pr_rest -= total
                                continue
                            if sid == "DTM":
                                known_dtm = recall(raw)
                                if known_dtm is not None:
                                    qual, date = known_dtm
                                else:
                                    if len(els) < 3:
                                        els += _PAD
                                    qual = els[1]
                                    day = els[2]
                                    # parse_date's rule, inline (a bad date raises ValueError).
                                    if len(day) == 8 and day.isdigit() and day.isascii():
                                        date = _from_iso(day) if qual in _DATES else None
                                    else:
                                        date = _day(day) if qual in _DATES else None
                                    if room:
                                        memo[raw] = (qual, date)
                                        room -= 1
                                if line is not None:
                                    if qual == "472" or qual == "150":
                                        line.service_date = date
                                    elif qual == "151":
                                        line.service_date_to = date
                                elif claim is not None:
                                    if qual == "232":
                                        claim.statement_from = date
                                    elif qual == "233":
                                        claim.statement_to = date
                                    elif qual == "050":
                                        claim.received_date = date
                                elif qual == "405":
                                    rem.production_date = date  # type: ignore[union-attr]
                                continue
                            if sid == "SVC":
                                if claim is None:
                                    raise _Unusual
                                if line is not None and line_rest:
                                    unbalanced = True
                                svc = recall(raw)
                                if svc is not None:
                                    # (a remembered line's lists are copied for each line)
                                    line = ServiceLine(
                                        base + k + 1,
                                        svc[0],
                                        svc[1],
                                        svc[2][:],
                                        svc[3],
                                        svc[4],
                                        svc[5],
                                        svc[6],
                                        svc[7],
                                        svc[8][:],
                                        svc[9],
                                    )
                                    line_rest = svc[10]
                                else:
                                    if len(els) < 8:
                                        els += _PAD
                                    proc = els[1].split(comp) if els[1] else []
                                    if len(proc) < 2 or not proc[0] or not proc[1]:
                                        raise _Unusual
                                    mods = proc[2:6]
                                    if "" in mods:
                                        mods = [m for m in mods if m]
                                    whole, _, frac = els[2].partition(".")
                                    digits = whole + frac
                                    if len(frac) == 2 and digits.isdigit() and len(digits) <= 15:
                                        charge = int(digits)
                                    else:
                                        charge = _amount(els[2])
                                    whole, _, frac = els[3].partition(".")
                                    digits = whole + frac
                                    if len(frac) == 2 and digits.isdigit() and len(digits) <= 15:
                                        paid = int(digits)
                                    else:
                                        paid = _amount(els[3])
                                    if els[5]:
                                        units = Decimal(els[5])  # InvalidOperation: handed over
                                        if not units.is_finite():
                                            raise _Unusual
                                    else:
                                        units = _ONE
                                    if els[6]:
                                        sub = els[6].split(comp)
                                        sub_proc = sub[1] if len(sub) > 1 and sub[1] else None
                                        sub_mods = [m for m in sub[2:6] if m]
                                    else:
                                        sub_proc = None
                                        sub_mods = []
                                    line = ServiceLine(
                                        base + k + 1,
                                        proc[0],
                                        proc[1],
                                        mods,
                                        charge,
                                        paid,
                                        els[4] or None,
                                        units,
                                        sub_proc,
                                        sub_mods,
                                        _quantity(els[7]) if els[7] else None,
                                    )
                                    line_rest = charge - paid
                                    if room:
                                        memo[raw] = (
                                            proc[0],
                                            proc[1],
                                            mods[:],
                                            charge,
                                            paid,
                                            line.revenue_code,
                                            units,
                                            sub_proc,
                                            sub_mods[:],
                                            line.submitted_units,
                                            line_rest,
                                        )
                                        room -= 1
                                claim.service_lines.append(line)
                                continue
                            if sid == "REF":
                                if len(els) < 3:
                                    els += _PAD
                                if line is not None:
                                    if els[1] == "6R":
                                        line.line_control_number = els[2]
                                elif claim is not None:
                                    if els[1] == "F8":
                                        claim.original_reference = els[2]
                                elif party == "PR" and els[1] == "2U":
                                    ref_2u = els[2]
                                continue
                            if sid == "CLP" or sid == "LX" or sid == "PLB":
                                # The claim (and line) before it is complete.
                                if line is not None and line_rest:
                                    unbalanced = True
                                if claim is not None and (claim_rest or pr_rest):
                                    unbalanced = True
                                claim = line = None
                                if sid == "CLP":
                                    if len(els) < 10:
                                        els += _PAD
                                    status = els[2]
                                    if not els[1] or status not in CLAIM_STATUSES:
                                        raise _Unusual  # unknown statuses are warned about
                                    if not is_4010 and not els[7]:
                                        raise _Unusual
                                    whole, _, frac = els[3].partition(".")
                                    digits = whole + frac
                                    if len(frac) == 2 and digits.isdigit() and len(digits) <= 15:
                                        charge = int(digits)
                                    else:
                                        charge = _amount(els[3])
                                    whole, _, frac = els[4].partition(".")
                                    digits = whole + frac
                                    if len(frac) == 2 and digits.isdigit() and len(digits) <= 15:
                                        paid = int(digits)
                                    else:
                                        paid = _amount(els[4])
                                    patient = _amount(els[5]) if els[5] else 0
                                    claim = ClaimPayment(
                                        base + k + 1,
                                        els[1],
                                        status,
                                        charge,
                                        paid,
                                        patient,
                                        els[6],
                                        els[7],
                                        els[8],
                                        els[9],
                                    )
                                    claims.append(claim)
                                    claim_rest = charge - paid
                                    pr_rest = patient
                                    set_rest -= paid
                                elif sid == "PLB":
                                    try:
                                        adjs = _plb(Segment(els, base + k + 1, delims))
                                    except X12Error:
                                        raise _Unusual from None
                                    rem.provider_adjustments.extend(adjs)  # type: ignore[union-attr]
                                    for p in adjs:
                                        set_rest += p.amount_minor
                                continue
                            if sid == "NM1":
                                if claim is not None and line is None:
                                    if len(els) < 10:
                                        els += _PAD
                                    if els[1] == "TT":
                                        claim.crossover_payer = els[3] or els[9] or "unknown"
                                        claim.crossover_payer_id = els[9] or None
                                    elif els[1] == "QC" and els[9]:
                                        claim.patient_member_id = els[9]
                                continue
                            if sid == "SE":
                                if line is not None and line_rest:
                                    unbalanced = True
                                if claim is not None and (claim_rest or pr_rest):
                                    unbalanced = True
                                seg = Segment(els, base + k + 1, delims)
                                env.seg_in_set = seg.position - st_pos
                                env.feed(seg)
                                self._last = seg
                                raws += parts[k0 : k + 1]
                                assert rem is not None and st_tx is not None
                                mode = 0
                                if not rem.trace_number:  # the general parser's error
                                    self._to_general(raws[:-1], st_pos, st_tx)
                                    st_tx.segments.append(seg)
                                    self._current = None
                                    result: Remittance | RemittanceFailure = self._close(st_tx)
                                else:
                                    rem.envelope_errors = self.errors[self._seen :]
                                    self._seen = len(self.errors)
                                    rem.sha256 = _digest(raws, st_tx.segments[0].delimiters)
                                    rem.payer_id = ref_2u or n1_id or rem.trace_originator
                                    if unbalanced or set_rest:
                                        _balance(rem)  # the messages, in the general order
                                    result = rem
                                raws = []
                                yield result
                                continue
                            if sid == "TRN":
                                if claim is None and not rem.trace_number:  # type: ignore[union-attr]
                                    if len(els) < 4:
                                        els += _PAD
                                    rem.trace_number = els[2]  # type: ignore[union-attr]
                                    rem.trace_originator = els[3]  # type: ignore[union-attr]
                                continue
                            if sid == "N1":
                                if claim is None:
                                    if len(els) < 5:
                                        els += _PAD
                                    party = els[1]
                                    if party == "PR":
                                        rem.payer_name = els[2]  # type: ignore[union-attr]
                                        n1_id = els[4] or None
                                    elif party == "PE":
                                        rem.payee_name = els[2]  # type: ignore[union-attr]
                                        rem.payee_id_qualifier = els[3]  # type: ignore[union-attr]
                                        rem.payee_id = els[4]  # type: ignore[union-attr]
                                continue
                            if sid == "AMT":
                                if line is not None and els[1:2] == ["B6"]:
                                    line.allowed_minor = _amount(els[2] if len(els) > 2 else "")
                                continue
                            if sid == "LQ":
                                if line is not None and els[1:2] == ["HE"]:
                                    line.remarks.append(els[2] if len(els) > 2 else "")
                                continue
                            if sid == "MOA" or sid == "MIA":
                                if claim is not None:
                                    els += _PAD
                                    first_i, last_i = (3, 7) if sid == "MOA" else (20, 24)
                                    claim.remarks.extend(
                                        els[i] for i in range(first_i, last_i + 1) if els[i]
                                    )
                                    if sid == "MIA" and els[5]:
                                        claim.remarks.append(els[5])
                                continue
                            if sid == "CUR":
                                if claim is None:
                                    assert rem is not None
                                    rem.currency = (els[2] if len(els) > 2 else "") or rem.currency
                                    if rem.currency != "USD":
                                        raise _Unusual  # warned about
                                continue
                        elif mode == 1:
                            if sid != "BPR":
                                raise _Unusual  # an 835 starts with BPR after ST
                            if len(els) < 17:
                                els += _PAD
                            assert st_tx is not None
                            payment = _amount(els[2])
                            group_header = st_tx.group
                            version = group_header.version if group_header else ""
                            is_4010 = not (
                                version.startswith("00501") or st_tx.interchange.version == "00501"
                            )
                            if groups is not (GROUPS_4010 if is_4010 else GROUPS_5010):
                                memo.clear()  # CAS group codes were checked against the others
                                room = _MEMO_SIZE
                            groups = GROUPS_4010 if is_4010 else GROUPS_5010
                            rem = Remittance(
                                version=version,
                                interchange_control_number=st_tx.interchange.control_number,
                                group_control_number=group_header.control_number
                                if group_header
                                else "",
                                control_number=st_tx.segments[0][2],
                                position=st_pos,
                                sha256="",
                                handling_code=els[1],
                                payment_minor=payment,
                                credit_debit=els[3],
                                payment_method=els[4],
                                payment_date=_day(els[16]),
                                trace_number="",
                                trace_originator="",
                            )
                            claims = rem.claims
                            claim = line = None
                            party = ref_2u = n1_id = None
                            unbalanced = False
                            line_rest = claim_rest = pr_rest = 0
                            set_rest = payment
                            mode = 2
                            continue

                        # Not an 835 body segment read above: the general way.
                        if index is None and (not raw or raw[0] in _WS):
                            # A blank segment, or one starting with a space: clean from here on
                            # and read this one again.
                            parts, index = _clean(parts, k)
                            raise _Again
                        if raw.startswith("ISA") and len(raw) > 3 and not raw[3].isalnum():
                            # A new interchange without an IEA: detect its delimiters.
                            if mode:
                                raise _Unusual
                            stop = k  # the ISA is read again from its first character
                            at_isa = True
                            break
                        if sid not in known:
                            check_segment_id(sid, base + k + 1)
                            known.add(sid)
                        if mode == 2 and sid not in _BREAKS_SET:
                            continue  # a segment the 835 reader does not use (N3, PER, ...)
                        if mode:
                            raise _Unusual
                        seg = Segment(els, base + k + 1, delims)
                        out = self._general(seg)
                        if sid == "ST" and els[1:2] == ["835"]:
                            st_tx = self._current
                            assert st_tx is not None
                            self._current = None
                            mode = 1
                            st_pos = seg.position
                            raws = []
                            k0 = k
                        if out is not None:
                            yield out
                        if sid == "IEA":
                            stop = k + 1  # the next interchange may have other delimiters
                            break
                    else:
                        k = len(parts)
                        break
                    break
                except _Again:
                    continue
                except (_Unusual, ValueError, InvalidOperation):
                    if not mode:
                        raise
                    # The open set goes the general way from the segment at k (included).
                    assert st_tx is not None
                    self._to_general(raws + parts[k0:k], st_pos, st_tx)
                    mode = 0
                    raws = []
                    # k is read again, now with mode 0.
            if stop >= 0:
                # Resume at the ISA, or right after the IEA, at its offset in the raw block.
                if stop:
                    last_raw = parts[stop - 1]
                if at_isa:
                    cut = index[stop] if index is not None else stop
                else:
                    cut = index[stop - 1] + 1 if index is not None else stop
                pos = block_start + sum(len(p) + 1 for p in block.split(term)[:cut])
                position = base + stop
                delims = None
                continue
            position = base + len(parts)
            if parts:
                last_raw = parts[-1]
            if mode:
                raws += parts[k0:]
                if len(raws) > MAX_SET_SEGMENTS:
                    raise set_too_long(raws[-1].split(esep, 1)[0][:3] or None, position)

        # The data has ended.
        if mode:
            assert st_tx is not None
            self._to_general(raws, st_pos, st_tx)
        last = self._last
        if position and (last is None or last.position != position):
            assert delims is not None or last is not None
            d = delims if delims is not None else last.delimiters  # type: ignore[union-attr]
            last = Segment(last_raw.split(d.element), position, d)
        env.finish(last)
        if self._current is not None:
            tx = self._current
            self._current = None
            yield self._close(tx)
