"""835 text for posting tests: one set with the exact amounts the test gives."""

from __future__ import annotations

PAY_DAY = "20260210"


def era_text(
    payer_id: str,
    payee_npi: str,
    claims: list[list[str]],
    amount: str,
    *,
    trace: str = "EFT0001",
    method: str = "ACH",
    plb: list[str] | None = None,
    control: str = "000000101",
    payer_name: str = "LAKESHORE HEALTH PLAN",
) -> str:
    body = [
        f"BPR*I*{amount}*C*{method}*CCP*01*011000015*DA*123456*1999999999**01*021000021*DA*98765"
        f"*{PAY_DAY}",
        f"TRN*1*{trace}*1999999999",
        f"N1*PR*{payer_name}",
        f"REF*2U*{payer_id}",
        f"N1*PE*RIVERSIDE CLINIC*XX*{payee_npi}",
        "LX*1",
    ]
    for c in claims:
        body.extend(c)
    body.extend(plb or [])
    segs = ["ST*835*0001", *body]
    segs.append(f"SE*{len(segs) + 1}*0001")
    isa = (
        "ISA*00*          *00*          *ZZ*PAYERSIM       *ZZ*REVCYCLE       *260210*1200*"
        f"^*00501*{control}*0*T*:~"
    )
    return (
        isa
        + "GS*HP*PAYERSIM*REVCYCLE*20260210*1200*1*X*005010X221A1~"
        + "".join(s + "~" for s in segs)
        + "GE*1*1~"
        + f"IEA*1*{control}~"
    )
