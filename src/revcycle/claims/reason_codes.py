"""Plain-language descriptions of the adjustment codes payers send on a remittance: claim
adjustment group codes (CAS01), claim adjustment reason codes (CARC, CAS02) and remittance
advice remark codes (RARC, LQ*HE / MOA / MIA).

The official code lists are X12 and CMS publications; the texts here are our own short
explanations, written for the staff working the denial queue, not the official wording. A code
without a description still works everywhere: :func:`describe_reason` and :func:`describe_remark`
answer :data:`NO_DESCRIPTION` for it.
"""

from __future__ import annotations

from collections.abc import Mapping

NO_DESCRIPTION = "no description on file"

GROUPS: Mapping[str, str] = {
    "CO": "Contractual: the provider absorbs it and may not bill the patient",
    "PR": "Patient responsibility: the patient owes it",
    "OA": "Other adjustment: neither the provider's contract nor the patient's share",
    "PI": "Payer-initiated: the payer's own reduction, not a contract term",
    "CR": "Correction or reversal of an earlier decision",
}

# CARC: what the payer did and why, in our words.
REASONS: Mapping[str, str] = {
    "1": "The patient's deductible took this amount",
    "2": "The patient's coinsurance share",
    "3": "The patient's copay",
    "4": "The procedure code does not fit the modifier used, or a modifier is missing",
    "5": "The procedure code or bill type does not fit the place of service",
    "6": "The procedure does not fit the patient's age",
    "7": "The procedure does not fit the patient's sex",
    "8": "The procedure does not fit the provider's type or specialty",
    "9": "The diagnosis does not fit the patient's age",
    "10": "The diagnosis does not fit the patient's sex",
    "11": "The diagnosis does not support the procedure billed",
    "13": "The patient had died before the date of service",
    "15": "The authorisation number is missing, wrong or does not match the service",
    "16": "The claim lacks information or has billing errors; fix and resend it",
    "18": "A duplicate of a claim or line already received",
    "19": "A work injury: the workers' compensation carrier should pay",
    "22": "Another payer may be primary: coordination of benefits applies",
    "23": "What other payers already paid or adjusted reduced this amount",
    "24": "Covered by a capitation agreement or managed-care plan",
    "26": "The service was before the coverage started",
    "27": "The service was after the coverage ended",
    "29": "Sent after the payer's time limit for filing",
    "31": "The payer cannot identify the patient as its member",
    "32": "Our records show the patient is not an eligible dependant",
    "33": "The insured has no dependant coverage",
    "35": "A lifetime benefit maximum has been reached",
    "39": "The payer refused authorisation for the service",
    "40": "The payer does not consider the service an emergency or urgent care",
    "45": "The charge is above the contracted or allowed amount",
    "49": "A routine or preventive service the plan does not cover",
    "50": "The payer does not find the service medically necessary",
    "51": "The payer treats the service as a pre-existing condition",
    "54": "An assistant surgeon is not covered for this procedure",
    "55": "The payer considers the procedure or treatment experimental",
    "58": "Not covered in the place of service given",
    "59": "Reduced by the rules for multiple or concurrent procedures",
    "89": "Professional fees removed from a facility charge",
    "94": "Processed in excess of charges",
    "96": "A charge the plan does not cover",
    "97": "Already paid as part of another service or procedure on the claim",
    "100": "Payment was made to the patient, subscriber or their representative",
    "107": "A related or qualifying claim or service was not found",
    "109": "This payer does not cover it: send it to the right payer or contractor",
    "110": "Billing date is before the service date",
    "119": "A benefit maximum for the period has been reached",
    "129": "An earlier payment or decision needs to be settled first",
    "131": "A negotiated discount specific to this claim",
    "140": "The patient's or insured's health plan identifier does not match",
    "146": "The diagnosis is not valid for the date of service",
    "149": "A lifetime benefit maximum for this service has been reached",
    "150": "The level of service is above what the payer finds supported",
    "151": "The number or frequency of services is above what the payer allows",
    "164": "An attachment or other documentation was not received in time",
    "167": "The diagnosis is not covered",
    "170": "Not paid when this type of provider performs it",
    "181": "The procedure code was not valid on the date of service",
    "182": "The modifier was not valid on the date of service",
    "183": "The referring provider is not eligible to refer this service",
    "185": "The rendering provider is not eligible to perform this service",
    "189": "A 'not otherwise classified' code was used where a specific code exists",
    "197": "Precertification, notification or authorisation was not obtained",
    "198": "Precertification or authorisation exceeded",
    "199": "Revenue code and procedure code do not match",
    "204": "The service is not covered by the patient's current benefit plan",
    "208": "The national provider identifier does not match the one on file",
    "226": "Information the payer asked the provider for was not supplied or was not enough",
    "227": "Information the payer asked the patient or insured for was not supplied",
    "234": "This procedure is not paid separately",
    "236": "The procedure or modifier combination is not compatible with another on the claim",
    "242": "The services were not given by a network or primary-care provider",
    "243": "The services were not authorised by the network or primary-care provider",
    "252": "An attachment or other documentation is required to decide the claim",
    "253": "A sequestration reduction of the federal payment",
    "256": "The service is not payable under the patient's managed-care contract",
    "B7": "The provider was not certified or eligible for this service on that date",
    "B9": "The patient is enrolled in a hospice",
    "B11": "The claim was sent to the right payer or contractor for processing",
    "B13": "Already paid on an earlier claim with this service",
    "B15": "A qualifying service or procedure must be billed and paid first",
    "B16": "A 'new patient' code used for a patient the provider has seen before",
    "P1": "State-mandated requirement for property and casualty claims",
}

# RARC: remarks that explain or add to the reason codes, in our words.
REMARKS: Mapping[str, str] = {
    "M15": "Separately billed services or tests were bundled: one payment covers them",
    "M20": "The HCPCS code is missing or incomplete",
    "M51": "The procedure code is missing, incomplete or not valid",
    "M76": "The diagnosis code is missing, incomplete or not valid",
    "M77": "The place of service is missing, incomplete or not valid",
    "M80": "Not covered when done during the same session or date as another service",
    "M86": "The service was denied because payment was already made for a similar one",
    "M119": "The national drug code is missing, incomplete or not valid",
    "MA01": "You may appeal this decision: follow the payer's appeal instructions",
    "MA04": "The secondary payment cannot be made: the primary payer's facts are incomplete",
    "MA07": "The claim was also forwarded to the supplemental insurer",
    "MA18": "The claim was forwarded to the patient's supplemental insurer",
    "MA27": "The patient's name or identifier on the claim does not match",
    "MA61": "The social security number or health plan identifier is missing or not valid",
    "MA63": "The principal diagnosis is missing, incomplete or not valid",
    "MA130": "The claim is missing information or has errors: send a new, complete claim; "
    "this one cannot be appealed",
    "N4": "The prior payer's explanation of benefits is missing, incomplete or not valid",
    "N19": "The procedure code was changed to match the service actually performed",
    "N20": "Not paid separately when done with another service on the same date",
    "N30": "The patient is not eligible for this service",
    "N56": "The procedure code billed is not correct or valid for the services given",
    "N115": "The decision followed a local coverage determination",
    "N130": "Check the plan's benefit rules: the plan limits or excludes this service",
    "N179": "More information was asked for and must be sent",
    "N211": "You may not appeal this decision",
    "N290": "The rendering provider's identifier is missing, incomplete or not valid",
    "N362": "The number of units is above what the payer allows per day or session",
    "N381": "Consult the payer's contract or the provider manual for this adjustment",
    "N386": "The decision followed a national coverage determination",
    "N425": "Services provided without a required statutory or plan condition",
    "N432": "The adjustment reflects the contractual reimbursement rate",
    "N479": "The primary payer's payment and adjustments are missing or do not balance",
    "N522": "A duplicate of a claim already being processed",
    "N657": "This should be billed with the appropriate code for these services",
}


def describe_group(code: str) -> str:
    return GROUPS.get(code.strip().upper(), NO_DESCRIPTION)


def describe_reason(code: str) -> str:
    return REASONS.get(code.strip().upper(), NO_DESCRIPTION)


def describe_remark(code: str) -> str:
    return REMARKS.get(code.strip().upper(), NO_DESCRIPTION)


def describe_adjustment(group: str, reason: str) -> str:
    """``"CO-50"`` style: the group's and the reason's descriptions together."""
    return f"{describe_group(group)}. {describe_reason(reason)}"
