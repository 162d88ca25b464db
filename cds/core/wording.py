"""What the cards say, as data (clinical-rules.md §7.4-§7.6 and §8, rule set 2026.2).

Pure tables of English message ids (marked with `N_`, translated when a card is rendered):
summary templates and next steps per (rule, variant), the topics' not-recorded items and
safety-net lines, Transfer lines, and the cover concerns and handover lines of §8.1.
"""

from __future__ import annotations

from dataclasses import dataclass

from .i18n import N_
from .model import (
    TAG_BLADDER,
    TAG_BOWEL,
    TAG_MOTOR,
    TAG_PALLOR,
    TAG_SADDLE,
    TAG_SENSORY,
    Side,
)

# --------------------------------------------------------------------------- §7.4 summaries
SUMMARIES: dict[tuple[str, str], str] = {
    ("R-PE-SUSPECTED", "pregnant"): N_(
        "Possible PE {pregnancy} ({sign}): emergency assessment now; LMWH unless "
        "contraindicated; no D-dimer or PE Wells"
    ),
    ("R-PE-SUSPECTED", "under-18"): N_(
        "Possible PE under 18 ({sign}): emergency paediatric assessment now; adult PE scores "
        "and D-dimer do not apply"
    ),
    ("R-PE-SUSPECTED", "anticoagulated"): N_(
        "Possible PE while anticoagulated ({sign}): emergency assessment now for imaging; "
        "D-dimer cannot exclude PE"
    ),
    ("R-PE-SUSPECTED", "hypoxic"): N_(
        "Possible PE with {sign}: ambulance or on-call team now; emergency assessment (oxygen, "
        "PE Wells, CTPA)"
    ),
    ("R-PE-SUSPECTED", "standard"): N_(
        "Possible PE ({sign} with {leg}): emergency assessment now; PE Wells, then CTPA or D-dimer"
    ),
    ("R-PHLEGMASIA", "standard"): N_(
        "Swollen blue leg ({side}), possible phlegmasia: emergency assessment now; call the "
        "on-call vascular surgeon"
    ),
    ("R-ALI", "threatened"): N_(
        "Possible acute limb ischaemia ({side}): emergency vascular assessment now; heparin "
        "unless contraindicated"
    ),
    ("R-ALI", "painful-cold"): N_(
        "Cold, painful leg ({side}): possible acute limb ischaemia; check pulses, sensation, "
        "power now; emergency vascular review"
    ),
    ("R-CAUDA-EQUINA", "standard"): N_(
        "Possible cauda equina syndrome: emergency MRI and spinal surgical review now"
    ),
    ("R-COMPARTMENT", "standard"): N_(
        "Possible compartment syndrome: emergency orthopaedic assessment now; remove tight "
        "dressings or casts"
    ),
    ("R-NECROTISING", "standard"): N_(
        "Possible necrotising soft-tissue infection: emergency surgical assessment now; do not "
        "wait for fever"
    ),
    ("R-RHABDO", "ck"): N_(
        "Possible rhabdomyolysis (CK {n} × ULN): emergency assessment now (renal function, "
        "potassium, fluids)"
    ),
    ("R-RHABDO", "no-ck"): N_(
        "Possible rhabdomyolysis ({evidence}): emergency assessment now (CK, renal function, "
        "potassium, fluids)"
    ),
    ("R-SEVERE-ELECTROLYTE", "standard"): N_(
        "Severe {electrolyte} disturbance ({value}): emergency assessment now with ECG monitoring"
    ),
    ("R-BLEEDING-VARICOSE", "standard"): N_(
        "Bleeding varicose vein: elevate the leg, firm direct pressure; emergency assessment now"
    ),
    ("R-DVT-PATHWAY", "diagnosed"): N_(
        "DVT or PE recorded {date}: confirm {treatment}; same-day review if symptoms new or worse"
    ),
    ("R-DVT-PATHWAY", "pregnant"): N_(
        "Possible DVT {pregnancy}: compression duplex today; LMWH until DVT is excluded unless "
        "contraindicated; no D-dimer"
    ),
    ("R-DVT-PATHWAY", "under-18"): N_(
        "Possible DVT under 18: same-day assessment and leg-vein ultrasound with paediatric "
        "advice; adult scores do not apply"
    ),
    ("R-DVT-PATHWAY", "anticoagulated"): N_(
        "Possible DVT while anticoagulated: leg-vein ultrasound today; check adherence and dose "
        "(treatment failure?)"
    ),
    ("R-DVT-PATHWAY", "likely"): N_(
        "DVT likely (Wells {n}): proximal leg-vein ultrasound within 4 h; if not possible, "
        "D-dimer + interim anticoagulation"
    ),
    ("R-DVT-PATHWAY", "incomplete"): N_(
        "Possible DVT (Wells incomplete, treat as likely): leg-vein ultrasound within 4 h, else "
        "D-dimer + interim anticoagulation"
    ),
    ("R-DVT-PATHWAY", "unlikely-ddimer-positive"): N_(
        "Wells {n} (unlikely) but D-dimer positive ({value}): leg-vein ultrasound within 4 h, "
        "else interim anticoagulation"
    ),
    ("R-DVT-PATHWAY", "unlikely-ddimer-blocked"): N_(
        "Wells {n} (unlikely), D-dimer negative but not usable ({reason}): leg-vein ultrasound "
        "within 4 h"
    ),
    ("R-DVT-PATHWAY", "unlikely"): N_(
        "DVT unlikely (Wells {n}, all items recorded): D-dimer within 4 h; ultrasound within "
        "4 h if positive"
    ),
    ("R-DVT-UNLIKELY", "standard"): N_(
        "DVT unlikely (Wells {n}; {ddimer}): consider other diagnoses; stop interim anticoagulation"
    ),
    ("R-PE-SIGN", "standard"): N_(
        "{Calf symptom} with {sign}: repeat vital signs now and assess for PE; red-flag check "
        "incomplete"
    ),
    ("R-ISCHAEMIA-SIGN", "cold"): N_(
        "{Sign} ({side}) with {symptom}: check pulses, sensation, power in both legs now; any "
        "deficit: emergency"
    ),
    ("R-ISCHAEMIA-SIGN", "pulseless"): N_(
        "Absent foot pulses ({side}) with {symptom}: Doppler, sensation, power in both legs "
        "now; new or any deficit: emergency"
    ),
    ("R-ISCHAEMIA-SIGN", "deficit"): N_(
        "Leg {deficit} ({side}) with {symptom}: check pulses, sensation, power in both legs "
        "now; if new: emergency"
    ),
    ("R-SVT", "standard"): N_("Possible superficial vein thrombosis: {route}"),
    ("R-CLTI", "standard"): N_(
        "Possible chronic limb-threatening ischaemia: urgent vascular referral today; gangrene "
        "or spreading infection: emergency"
    ),
    ("R-CELLULITIS", "standard"): N_(
        "Possible cellulitis: same-day clinical assessment (severity, sepsis risk); antibiotics "
        "per NICE NG141"
    ),
    ("R-CALF-PAIN-FEVER", "standard"): N_(
        "{Calf symptom} with {fever}: same-day assessment for infection (cellulitis, "
        "pyomyositis) and sepsis"
    ),
    ("R-RADICULAR-DEFICIT", "standard"): N_(
        "Sciatica with leg weakness: urgent spinal referral today; emergency if bladder, bowel "
        "or saddle symptoms"
    ),
    ("R-SPINAL-RED-FLAG", "cancer-neuro"): N_(
        "{Spinal}, active cancer and neurological signs (possible MSCC): MSCC coordinator now; "
        "whole-spine MRI within 24 h"
    ),
    ("R-SPINAL-RED-FLAG", "fever-cancer"): N_(
        "{Spinal} with fever and active cancer: same-day hospital assessment (cultures, MRI); "
        "tell MSCC coordinator today"
    ),
    ("R-SPINAL-RED-FLAG", "fever"): N_(
        "{Spinal} with fever: same-day hospital assessment for spinal infection (bloods, "
        "cultures, MRI)"
    ),
    ("R-SPINAL-RED-FLAG", "cancer"): N_(
        "{Spinal} with active cancer: MSCC coordinator or acute oncology today; whole-spine MRI "
        "within 1 week (24 h if neuro signs)"
    ),
    ("R-MYOSITIS", "ck"): N_(
        "Possible myositis (CK {n} × ULN with {muscle}): stop myotoxic drugs; urgent "
        "rheumatology referral"
    ),
    ("R-MYOSITIS", "diagnosed"): N_(
        "Myositis on record: check CK and renal function; stop myotoxic drugs; urgent "
        "rheumatology referral"
    ),
    ("R-ACHILLES", "standard"): N_(
        "Possible Achilles or calf-muscle rupture, or fracture: same-day orthopaedic assessment"
    ),
    ("R-PAD", "abi-low"): N_(
        "PAD likely (ABI {abi}): stop smoking, statin, antiplatelet, supervised exercise; "
        "routine vascular referral"
    ),
    ("R-PAD", "no-abi"): N_(
        "{Evidence}, no ABI in 12 months: measure ABI (toe pressures if diabetic) and start "
        "risk-factor care for PAD"
    ),
    ("R-PAD", "abi-not-low"): N_(
        "{Evidence} with ABI {abi}: {route} to confirm PAD; start risk-factor care"
    ),
    ("R-PAD-WORKUP", "no-abi"): N_(
        "{Calf symptom} with trophic changes, no ABI in 12 months: measure resting ABI (routine)"
    ),
    ("R-PAD-WORKUP", "borderline"): N_(
        "Borderline ABI {abi} with {calf symptom}: arrange an exercise ABI, not a repeat "
        "resting ABI (routine)"
    ),
    ("R-PAD-WORKUP", "non-compressible"): N_(
        "ABI {abi} (arteries may be incompressible): arrange a toe-brachial index (routine)"
    ),
    ("R-RADICULOPATHY", "standard"): N_(
        "Leg pain likely from the lumbar spine: analgesia, keep active; if not settling: {route}"
    ),
    ("R-VARICOSE", "standard"): N_(
        "Calf symptoms with venous disease: assessment and duplex; {route}"
    ),
    ("R-CRAMP-SECONDARY", "standard"): N_(
        "Leg cramps with a possible cause ({cause}): treat the cause; {route}"
    ),
    ("R-FIBROMYALGIA", "standard"): N_(
        "Calf pain with fibromyalgia: review management (exercise first); routine rheumatology "
        "if pattern changed"
    ),
    ("R-REST", "examined"): N_(
        "Likely post-exertion muscle soreness: rest, elevate, warm up before exercise; review "
        "if not better in 3–7 days"
    ),
    ("R-REST", "unexamined"): N_(
        "Calf pain after exertion: likely muscle soreness if exam shows no swelling, redness, "
        "warmth or fever; rest, elevate"
    ),
    ("R-CRAMP-SELFCARE", "standard"): N_(
        "Leg cramps, no cause recorded: stretching and self-care; check U&E, calcium, "
        "magnesium, TSH and medicines"
    ),
    ("R-NO-RED-FLAG-DATA", "clear"): N_(
        "No red flags found in the recorded data: complete the red-flag check ({items} not "
        "recorded)"
    ),
    ("R-NO-RED-FLAG-DATA", "unreadable"): N_(
        "{Test} result could not be interpreted ({value} {unit}): check it with the lab; "
        "red-flag check incomplete"
    ),
}

# --------------------------------------------------------------------------- §7.6 next steps
NEXT_STEPS: dict[tuple[str, str], tuple[str, ...]] = {
    ("R-PE-SUSPECTED", "standard"): (
        N_("Emergency assessment now."),
        N_(
            "Two-level PE Wells: likely (> 4) → CTPA now, with interim anticoagulation unless "
            "contraindicated if CTPA is delayed; unlikely (≤ 4) → D-dimer within 4 h (same "
            "proviso), positive → CTPA."
        ),
        N_("Leg ultrasound never delays CTPA (NICE NG158)."),
    ),
    ("R-PE-SUSPECTED", "hypoxic"): (
        N_("Emergency assessment now; oxygen to target saturation (NICE NG158)."),
        N_(
            "Two-level PE Wells: likely (> 4) → CTPA now, with interim anticoagulation unless "
            "contraindicated if CTPA is delayed; unlikely (≤ 4) → D-dimer within 4 h (same "
            "proviso), positive → CTPA."
        ),
        N_("Leg ultrasound never delays CTPA (NICE NG158)."),
    ),
    ("R-PE-SUSPECTED", "pregnant"): (
        N_("Emergency assessment now; ECG and chest X-ray."),
        N_(
            "Leg signs → compression duplex first (DVT found: treat, no further imaging); "
            "otherwise CTPA or V/Q scan."
        ),
        N_("Treatment-dose LMWH until PE is excluded unless contraindicated."),
        N_("Obstetric and haematology input; no PE Wells, no D-dimer (RCOG GTG 37b)."),
    ),
    ("R-PE-SUSPECTED", "anticoagulated"): (
        N_("Emergency assessment now for imaging without D-dimer."),
        N_("Check adherence, missed doses and dose."),
        N_("PE on treatment = possible treatment failure: haematology advice."),
    ),
    ("R-PE-SUSPECTED", "under-18"): (
        N_("Emergency paediatric assessment now; imaging on paediatric advice."),
        N_("Adult PE scores and D-dimer do not apply."),
    ),
    ("R-PHLEGMASIA", "standard"): (
        N_("Call the on-call vascular surgeon now."),
        N_("Treatment-dose heparin unless contraindicated; urgent duplex (ESVS 2021)."),
    ),
    ("R-ALI", "threatened"): (
        N_("Emergency vascular assessment now; heparin unless contraindicated."),
        N_(
            "Motor or sensory loss means an immediately threatened limb: revascularisation "
            "without delay (ESVS 2020)."
        ),
    ),
    ("R-ALI", "painful-cold"): (
        N_("Emergency vascular review now."),
        N_(
            "Meanwhile compare both legs: pulses or hand-held Doppler, capillary refill, "
            "sensation, power."
        ),
        N_("Heparin unless contraindicated once ALI is confirmed clinically (ESVS 2020)."),
    ),
    ("R-CAUDA-EQUINA", "standard"): (
        N_("Emergency MRI of the lumbosacral spine and same-day spinal surgical review."),
        N_("Bladder scan for post-void residual (GIRFT 2023)."),
    ),
    ("R-COMPARTMENT", "standard"): (
        N_("Emergency orthopaedic assessment now."),
        N_("Split or remove constricting dressings and casts down to the skin."),
        N_("Fasciotomy decision without delay (BOAST 10)."),
    ),
    ("R-NECROTISING", "standard"): (
        N_("Emergency surgical assessment now."),
        N_("Sepsis screen and antibiotics without waiting for imaging (NICE NG51)."),
        N_("Fever is not required."),
    ),
    ("R-RHABDO", "ck"): (
        N_("Emergency assessment now: renal function, potassium, urine myoglobin; IV fluids."),
        N_("Stop statins and other myotoxic drugs (EAS 2015)."),
    ),
    ("R-RHABDO", "no-ck"): (
        N_("Emergency assessment now: CK, renal function, potassium, urine myoglobin; IV fluids."),
        N_("Stop statins and other myotoxic drugs (EAS 2015)."),
    ),
    ("R-SEVERE-ELECTROLYTE", "standard"): (
        N_("Emergency assessment now with ECG and cardiac monitoring."),
        N_("Repeat the sample and correct the electrolyte per local critical-value policy."),
    ),
    ("R-BLEEDING-VARICOSE", "standard"): (
        N_("Firm direct pressure on the bleeding point with the leg elevated."),
        N_("Emergency assessment now."),
        N_("Then referral to a vascular service straight away (NICE CG168 1.2.1)."),
    ),
    ("R-DVT-PATHWAY", "likely"): (
        N_("Proximal leg-vein ultrasound within 4 h."),
        N_(
            "If not possible: D-dimer, interim therapeutic anticoagulation unless "
            "contraindicated, and a scan within 24 h."
        ),
        N_("Negative scan → D-dimer (positive → rescan at 6–8 days) (NICE NG158)."),
    ),
    ("R-DVT-PATHWAY", "incomplete"): (
        N_("Complete the Wells items; until then treat as likely."),
        N_("Proximal leg-vein ultrasound within 4 h."),
        N_(
            "If not possible: D-dimer, interim therapeutic anticoagulation unless "
            "contraindicated, and a scan within 24 h."
        ),
        N_("Negative scan → D-dimer (positive → rescan at 6–8 days) (NICE NG158)."),
    ),
    ("R-DVT-PATHWAY", "unlikely"): (
        N_(
            "D-dimer with the result within 4 h (if not possible, interim anticoagulation "
            "unless contraindicated)."
        ),
        N_(
            "Positive → ultrasound within 4 h (else interim anticoagulation and a scan within "
            "24 h)."
        ),
        N_(
            "Negative → consider other diagnoses (muscle injury, Baker's cyst, cellulitis, "
            "superficial thrombosis) (NICE NG158)."
        ),
    ),
    ("R-DVT-PATHWAY", "unlikely-ddimer-positive"): (
        N_("Proximal leg-vein ultrasound within 4 h."),
        N_(
            "If not possible: interim anticoagulation unless contraindicated, and a scan "
            "within 24 h (NICE NG158)."
        ),
    ),
    ("R-DVT-PATHWAY", "unlikely-ddimer-blocked"): (
        N_("Proximal leg-vein ultrasound within 4 h."),
        N_(
            "If not possible: interim anticoagulation unless contraindicated, and a scan "
            "within 24 h (NICE NG158)."
        ),
        N_("The negative D-dimer cannot exclude DVT with {reason}."),
    ),
    ("R-DVT-PATHWAY", "diagnosed"): (
        N_("Check that {treatment} was started and is taken."),
        N_(
            "New or worse symptoms on treatment → same-day review for extension or treatment "
            "failure."
        ),
    ),
    ("R-DVT-PATHWAY", "pregnant"): (
        N_("Compression duplex today."),
        N_(
            "Treatment-dose LMWH until DVT is excluded unless contraindicated; no D-dimer or Wells."
        ),
        N_("Back pain or swelling of the entire leg → iliac vein imaging too."),
        N_("Negative scan with high suspicion → stop LMWH, rescan on days 3 and 7."),
        N_("Obstetric and haematology input (RCOG GTG 37b; prophylaxis GTG 37a)."),
    ),
    ("R-DVT-PATHWAY", "anticoagulated"): (
        N_("Ultrasound today; continue the anticoagulant."),
        N_(
            "If the dose is prophylactic, doses were missed or INR < 2: interim treatment-dose "
            "anticoagulation unless contraindicated, and a scan within 4 h."
        ),
        N_("Check adherence, dose for weight and renal function, interactions."),
        N_("DVT on treatment = possible failure: haematology advice."),
    ),
    ("R-DVT-PATHWAY", "under-18"): (
        N_("Same-day paediatric assessment and ultrasound."),
        N_("Interim anticoagulation only on paediatric haematology advice."),
    ),
    ("R-DVT-UNLIKELY", "standard"): (
        N_(
            "Consider other diagnoses: muscle injury, Baker's cyst, cellulitis, superficial "
            "thrombosis."
        ),
        N_("Stop any interim anticoagulation."),
        N_("Review if not settling within 1 week (NICE NG158)."),
    ),
    ("R-PE-SIGN", "standard"): (
        N_("Repeat vital signs now; look for other causes (pain, fever, dehydration, anaemia)."),
        N_(
            "If PE is still suspected, two-level PE Wells: > 4 → emergency assessment now "
            "(CTPA); ≤ 4 → D-dimer within 4 h, positive → emergency assessment."
        ),
        N_(
            "SpO2 < 92 %, systolic BP < 90 mmHg, syncope or new breathlessness → ambulance "
            "(inpatients: on-call team)."
        ),
    ),
    ("R-ISCHAEMIA-SIGN", "cold"): (
        N_(
            "Compare both legs now: pulses or hand-held Doppler, capillary refill, temperature, "
            "sensation, power."
        ),
        N_("Absent signals or any new deficit → emergency vascular assessment (ESVS 2020)."),
        N_("A deficit after exertion: think of compartment syndrome too."),
    ),
    ("R-ISCHAEMIA-SIGN", "deficit"): (
        N_(
            "Compare both legs now: pulses or hand-held Doppler, capillary refill, temperature, "
            "sensation, power."
        ),
        N_("Absent signals or any new deficit → emergency vascular assessment (ESVS 2020)."),
        N_("A deficit after exertion: think of compartment syndrome too."),
    ),
    ("R-ISCHAEMIA-SIGN", "pulseless"): (
        N_("Hand-held Doppler of both feet now, with sensation and power."),
        N_(
            "Pulses absent and not known to be chronic (no PAD or CLTI recorded), or any new "
            "deficit → emergency vascular assessment (ESVS 2020)."
        ),
    ),
    ("R-SVT", "standard"): (
        N_("Duplex within 24 h: extent, distance from the deep veins, DVT excluded."),
        N_("Anticoagulation decision on the result (BSH 2012; ESVS 2021)."),
    ),
    ("R-CLTI", "standard"): (
        N_("Urgent vascular referral today; gangrene, spreading infection or sepsis → emergency."),
        N_(
            "Threshold used: ABI < 0.40 (provisional; the Global Vascular Guidelines stage CLTI "
            "on ankle and toe pressures)."
        ),
        N_(
            "Risk-factor care: stop smoking, statin, antiplatelet, blood pressure and diabetes "
            "care (NICE CG147)."
        ),
    ),
    ("R-CELLULITIS", "standard"): (
        N_("Same-day assessment: mark the margin, assess severity and sepsis risk (NICE NG51)."),
        N_("Antibiotics per NICE NG141; DVT can coexist."),
    ),
    ("R-CALF-PAIN-FEVER", "standard"): (
        N_(
            "Same-day assessment for infection (cellulitis, pyomyositis, osteomyelitis) and "
            "sepsis risk (NICE NG51)."
        ),
    ),
    ("R-RADICULAR-DEFICIT", "standard"): (
        N_("Urgent spinal referral today for the motor deficit."),
        N_("MRI if it will change management (NICE NG59; CKS sciatica)."),
    ),
    ("R-SPINAL-RED-FLAG", "cancer-neuro"): (
        N_("Contact the MSCC coordinator now; whole-spine MRI within 24 h."),
        N_("With fever also blood cultures before antibiotics (NICE NG234)."),
    ),
    ("R-SPINAL-RED-FLAG", "cancer"): (
        N_(
            "MSCC coordinator or acute oncology today; whole-spine MRI within 1 week for pain "
            "alone."
        ),
        N_(
            "Any neurological symptom or sign → coordinator immediately and MRI within 24 h "
            "(NICE NG234)."
        ),
    ),
    ("R-SPINAL-RED-FLAG", "fever"): (
        N_(
            "Same-day hospital assessment (acute medical take or ED): CRP, blood cultures "
            "before antibiotics, urgent MRI for discitis or epidural abscess (NICE NG59)."
        ),
    ),
    ("R-SPINAL-RED-FLAG", "fever-cancer"): (
        N_(
            "Same-day hospital assessment (acute medical take or ED): CRP, blood cultures "
            "before antibiotics, urgent MRI for discitis or epidural abscess (NICE NG59)."
        ),
        N_("Inform the MSCC coordinator today too (NICE NG234)."),
    ),
    ("R-MYOSITIS", "ck"): (
        N_("Urgent rheumatology referral; repeat CK and renal function."),
        N_("Stop statins and other myotoxic drugs (EAS 2015); classify per EULAR/ACR 2017."),
    ),
    ("R-MYOSITIS", "diagnosed"): (
        N_("Urgent rheumatology referral; check CK and renal function."),
        N_("Stop statins and other myotoxic drugs (EAS 2015); classify per EULAR/ACR 2017."),
    ),
    ("R-ACHILLES", "standard"): (
        N_("Same-day orthopaedic assessment: Simmonds–Thompson test; imaging for fracture."),
        N_("Immobilise in equinus if Achilles rupture is suspected."),
    ),
    ("R-PAD", "abi-low"): (
        N_(
            "Stop smoking, statin, antiplatelet, blood pressure and diabetes care, supervised "
            "exercise."
        ),
        N_("Routine vascular referral (NICE CG147)."),
    ),
    ("R-PAD", "no-abi"): (
        N_("Measure the resting ABI (toe pressures or TBI if diabetic)."),
        N_(
            "Start risk-factor care now (stop smoking, statin, blood pressure and diabetes "
            "care, exercise); antiplatelet once PAD is confirmed."
        ),
        N_("ABI ≤ 0.90 → routine vascular referral (NICE CG147)."),
    ),
    ("R-PAD", "abi-not-low"): (
        N_("Exercise ABI (ABI > 1.40: toe-brachial index) to confirm PAD."),
        N_(
            "Risk-factor care: stop smoking, statin, antiplatelet, blood pressure and diabetes "
            "care, supervised exercise (ACC/AHA 2024)."
        ),
    ),
    ("R-PAD-WORKUP", "no-abi"): (N_("Resting ABI (NICE CG147)."),),
    ("R-PAD-WORKUP", "borderline"): (
        N_("Exercise (treadmill) ABI, not a repeat resting ABI (ACC/AHA 2024)."),
    ),
    ("R-PAD-WORKUP", "non-compressible"): (N_("Toe-brachial index (ACC/AHA 2024)."),),
    ("R-RADICULOPATHY", "standard"): (
        N_("Analgesia, keep active, exercise programme."),
        N_("Referral only if not settling (NICE NG59)."),
    ),
    ("R-VARICOSE", "standard"): (
        N_("Assessment and duplex by the vein service (NICE CG168 1.2.2)."),
    ),
    ("R-CRAMP-SECONDARY", "standard"): (
        N_(
            "Check U&E, calcium, magnesium, glucose, TSH; review medicines (diuretics, statins, "
            "beta-agonists)."
        ),
        N_("Consider pregnancy, neuropathy, PAD; treat the cause (CKS leg cramps)."),
    ),
    ("R-CRAMP-SELFCARE", "standard"): (
        N_(
            "Check U&E, calcium, magnesium, glucose, TSH; review medicines (diuretics, statins, "
            "beta-agonists)."
        ),
        N_("Consider pregnancy, neuropathy, PAD."),
        N_("Stretch and massage the calf; no routine quinine (CKS leg cramps; AAN 2010)."),
    ),
    ("R-FIBROMYALGIA", "standard"): (
        N_("Review management, exercise first (EULAR 2016)."),
        N_("Routine rheumatology if the pattern has changed."),
    ),
    ("R-REST", "examined"): (
        N_("Rest with the legs elevated; warm up before exercise."),
        N_(
            "Soreness after unaccustomed exertion is muscle micro-injury and settles in days "
            "(Cheung 2003)."
        ),
    ),
    ("R-REST", "unexamined"): (
        N_(
            "Examine both legs (swelling, redness, warmth, temperature) before calling it soreness."
        ),
        N_("Rest with the legs elevated; warm up before exercise."),
        N_(
            "Soreness after unaccustomed exertion is muscle micro-injury and settles in days "
            "(Cheung 2003)."
        ),
    ),
    ("R-NO-RED-FLAG-DATA", "clear"): (
        N_('Complete the red-flag check for the items under "Not recorded" and reassess.'),
    ),
    ("R-NO-RED-FLAG-DATA", "unreadable"): (
        N_("Check the result with the lab (unit, sample) and repeat it if needed."),
        N_("The red-flag check stays incomplete until then."),
    ),
}

# §7.6 R-PE-SIGN: "Principle-5 groups: no PE Wells or D-dimer; PE still suspected -> emergency
# assessment now with the group's R-PE-SUSPECTED steps" (principle 5: the PE cards keep the
# group's own steps and time frame). R-PE-SIGN has one template (variant `standard`), so the
# group, in the order of the principle-5 variants, picks these steps instead of the PE Wells.
PE_SIGN_GROUP_LEAD = N_(
    "If PE is still suspected: no PE Wells or D-dimer (validated scores do not apply); "
    "emergency assessment now with the steps below."
)
GROUP_NEXT_STEPS: dict[tuple[str, str], tuple[str, ...]] = {
    ("R-PE-SIGN", group): (
        NEXT_STEPS[("R-PE-SIGN", "standard")][0],
        PE_SIGN_GROUP_LEAD,
        *NEXT_STEPS[("R-PE-SUSPECTED", group)],
        NEXT_STEPS[("R-PE-SIGN", "standard")][-1],
    )
    for group in ("pregnant", "under-18", "anticoagulated")
}

# --------------------------------------------------------------------------- §7.5 Transfer
TRANSFER = N_("Ambulance if unstable or unsafe to travel; inpatients: on-call team now.")
TRANSFER_PE = N_(
    "Ambulance if SpO2 < 92 %, systolic BP < 90 mmHg, syncope or worsening breathlessness; "
    "oxygen if hypoxic; inpatients: on-call team now."
)
TRANSFER_EXTRA: dict[str, str] = {
    "R-BLEEDING-VARICOSE": N_("Keep pressure and elevation on the way."),
    "R-COMPARTMENT": N_("Keep the limb at heart level."),
}


# --------------------------------------------------------------------------- §7.5 checklists
@dataclass(frozen=True)
class CheckItem:
    """One "not recorded" item: recorded when any of its findings has a record (with the tags,
    if given) within its window. `sides` asks for a record of each leg; `one_leg_missing`, when
    given, is the label (left leg missing, right leg missing) once the other leg is recorded."""

    label: str
    findings: tuple[str, ...]
    with_tags: tuple[str, ...] = ()
    analyte: str | None = None
    sides: bool = False
    one_leg_missing: tuple[str, str] | None = None
    leg: Side | None = None  # set when only this leg lacks the record (the other has one)


_SWELLING = (
    "F-LEG-SWELLING",
    "F-ANKLE-SWELLING",
    "F-ENTIRE-LEG-SWOLLEN",
    "F-CALF-SWELLING-3CM",
    "F-PITTING-EDEMA",
)
_COLOUR = ("F-ERYTHEMA", "F-CYANOSIS", "F-SKIN-DISCOLOURATION")
SWELLING = CheckItem(N_("swelling"), _SWELLING)
SWELLING_SIDE = CheckItem(N_("side of the swelling"), _SWELLING)  # special: sided records
SKIN_COLOUR = CheckItem(N_("skin colour"), _COLOUR)
WARMTH = CheckItem(N_("warmth"), ("F-WARMTH",))
TEMPERATURE = CheckItem(N_("temperature"), ("F-FEVER",))
HEART_RATE = CheckItem(N_("heart rate"), ("F-PE-SYMPTOM",), analyte="heart-rate")
SPO2 = CheckItem(N_("SpO2"), ("F-PE-SYMPTOM",), analyte="spo2")
FOOT_PULSES = CheckItem(
    N_("foot pulses on each side"),
    ("F-PULSELESS",),
    sides=True,
    one_leg_missing=(N_("left foot pulses"), N_("right foot pulses")),
)
SKIN_TEMPERATURE = CheckItem(
    N_("skin temperature"), ("F-COLD-LIMB", "F-PAINFUL-COLD-LIMB", "F-WARMTH")
)
SENSATION = CheckItem(N_("sensation"), ("F-SENSORY-MOTOR-LOSS",), with_tags=(TAG_SENSORY,))
POWER = CheckItem(N_("power"), ("F-SENSORY-MOTOR-LOSS",), with_tags=(TAG_MOTOR,))
ABI = CheckItem(N_("ABI"), ("F-ABI",))
SADDLE = CheckItem(
    N_("saddle (perineal) sensation"), ("F-CAUDA-EQUINA-DX",), with_tags=(TAG_SADDLE,)
)
BLADDER = CheckItem(
    N_("bladder (post-void residual)"), ("F-BLADDER-BOWEL-FLAG",), with_tags=(TAG_BLADDER,)
)
BOWEL = CheckItem(N_("bowel control"), ("F-BLADDER-BOWEL-FLAG",), with_tags=(TAG_BOWEL,))
BOTH_LEGS = CheckItem(N_("both-leg symptoms"), ("F-RADICULAR", "F-SENSORY-MOTOR-LOSS"), sides=True)
LEG_POWER = CheckItem(N_("leg power"), ("F-SENSORY-MOTOR-LOSS",), with_tags=(TAG_MOTOR,))
CK = CheckItem(N_("CK"), ("F-CK",))
POTASSIUM = CheckItem(
    N_("potassium"), ("F-CRAMP-CAUSE", "F-SEVERE-ELECTROLYTE"), analyte="potassium"
)
CALCIUM = CheckItem(N_("calcium"), ("F-CRAMP-CAUSE", "F-SEVERE-ELECTROLYTE"), analyte="calcium")
MAGNESIUM = CheckItem(
    N_("magnesium"), ("F-CRAMP-CAUSE", "F-SEVERE-ELECTROLYTE"), analyte="magnesium"
)
TSH = CheckItem(N_("TSH"), ("F-CRAMP-CAUSE",), analyte="tsh")
BACK_PAIN = CheckItem(N_("back pain with bladder or bowel symptoms"), ("F-LOW-BACK-PAIN",))

_VENOUS = (SWELLING, SWELLING_SIDE, SKIN_COLOUR, WARMTH, TEMPERATURE)
CHECKLISTS: dict[str, tuple[CheckItem, ...]] = {
    "venous": _VENOUS,
    "pe": (*_VENOUS, HEART_RATE, SPO2),
    "arterial": (FOOT_PULSES, SKIN_TEMPERATURE, SENSATION, POWER, ABI),
    "spinal": (SADDLE, BLADDER, BOWEL, BOTH_LEGS, LEG_POWER),
    "infection": (TEMPERATURE, HEART_RATE, SKIN_COLOUR, WARMTH, SWELLING),
    "muscle": (SWELLING, SKIN_COLOUR, WARMTH, TEMPERATURE, CK),
    "cramp": (POTASSIUM, CALCIUM, MAGNESIUM, TSH),
    "general": (*_VENOUS, FOOT_PULSES, BACK_PAIN),
}


# --------------------------------------------------------------------------- §7.5 safety nets
@dataclass(frozen=True)
class NetItem:
    """A word of a safety-net line, dropped when already recorded present (§7.5)."""

    text: str
    findings: tuple[str, ...] = ()
    with_tags: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    unilateral: bool = False


@dataclass(frozen=True)
class NetLine:
    """A safety-net line: templates by which item groups still have items (`{a}`, `{b}`)."""

    templates: dict[tuple[bool, ...], str]
    groups: tuple[tuple[NetItem, ...], ...]


_COLOURS = (
    NetItem(N_("red"), ("F-ERYTHEMA",)),
    NetItem(N_("hot"), ("F-WARMTH",)),
    NetItem(N_("pale"), ("F-COLD-LIMB",), with_tags=(TAG_PALLOR,)),
    NetItem(N_("blue"), ("F-CYANOSIS",)),
)
_CHEST = (
    NetItem(N_("breathlessness"), ("F-PE-SYMPTOM",), codes=("267036007",)),
    NetItem(N_("chest pain"), ("F-PE-SYMPTOM",), codes=("29857009",)),
    NetItem(N_("coughing blood"), ("F-PE-SYMPTOM",), codes=("66857006",)),
)
VENOUS_NET = NetLine(
    {
        (True, True): N_("Seek help at once if the leg swells more or turns {a}, or with {b}."),
        (True, False): N_("Seek help at once if the leg swells more or turns {a}."),
        (False, True): N_("Seek help at once if the leg swells more, or with {b}."),
        (False, False): N_("Seek help at once if the leg swells more."),
    },
    (_COLOURS, _CHEST),
)
ARTERIAL_NET = NetLine(
    {
        (True, True): N_("Seek help at once if the foot or leg turns {a}, or with {b}."),
        (True, False): N_("Seek help at once if the foot or leg turns {a}, or with a new wound."),
        (False, True): N_("Seek help at once with {b}."),
        (False, False): N_("Seek help at once with a new wound."),
    },
    (
        (
            NetItem(N_("cold"), ("F-COLD-LIMB",), with_tags=("cold",)),
            NetItem(N_("pale"), ("F-COLD-LIMB",), with_tags=(TAG_PALLOR,)),
            NetItem(N_("blue"), ("F-CYANOSIS",)),
            NetItem(N_("numb"), ("F-SENSORY-MOTOR-LOSS",), with_tags=(TAG_SENSORY,)),
            NetItem(N_("weak"), ("F-SENSORY-MOTOR-LOSS",), with_tags=(TAG_MOTOR,)),
        ),
        (NetItem(N_("rest pain"), ("F-REST-PAIN",)), NetItem(N_("a new wound"))),
    ),
)
SPINAL_NET = NetLine(
    {
        (True,): N_("Seek emergency care at once with {a} (GIRFT 2023)."),
        (False,): N_("Seek emergency care at once with worsening weakness (GIRFT 2023)."),
    },
    (
        (
            NetItem(
                N_("saddle numbness (between the legs, back passage)"),
                ("F-CAUDA-EQUINA-DX",),
                with_tags=(TAG_SADDLE,),
            ),
            NetItem(
                N_("new difficulty passing urine"), ("F-BLADDER-BOWEL-FLAG",), codes=("267064002",)
            ),
            NetItem(
                N_("loss of bladder or bowel control"),
                ("F-BLADDER-BOWEL-FLAG",),
                codes=("165232002", "72042002"),
            ),
            NetItem(N_("new sexual problems")),
            NetItem(N_("symptoms in both legs")),
            NetItem(N_("worsening weakness")),
        ),
    ),
)
INFECTION_NET = NetLine(
    {
        (): N_(
            "Seek help at once if redness spreads, pain becomes severe, or with shivering, "
            "confusion or feeling much worse."
        )
    },
    (),
)
REST_NET = NetLine(
    {
        (True,): N_("Come back at once with {a}, or if not better in 3–7 days."),
        (False,): N_("Come back if not better in 3–7 days."),
    },
    (
        (
            NetItem(N_("one-sided swelling"), _SWELLING, unilateral=True),
            NetItem(N_("redness"), ("F-ERYTHEMA",)),
            NetItem(N_("warmth"), ("F-WARMTH",)),
            NetItem(N_("fever"), ("F-FEVER",)),
            NetItem(N_("breathlessness"), ("F-PE-SYMPTOM",), codes=("267036007",)),
        ),
    ),
)
MUSCLE_NET = NetLine(
    {
        (True,): N_("Seek help at once with {a}."),
        (False,): N_("Seek help at once with a tense calf."),
    },
    (
        (
            NetItem(N_("dark urine"), ("F-RHABDO",), codes=("dark-urine",)),
            NetItem(N_("weakness"), ("F-SENSORY-MOTOR-LOSS",), with_tags=(TAG_MOTOR,)),
            NetItem(N_("a tense calf")),
        ),
    ),
)
CRAMP_NET = NetLine(
    {
        (True,): N_("Come back if cramps become frequent or occur by day, or with {a}."),
        (False,): N_("Come back if cramps become frequent or occur by day."),
    },
    (
        (
            NetItem(N_("swelling"), _SWELLING),
            NetItem(N_("weakness"), ("F-SENSORY-MOTOR-LOSS",), with_tags=(TAG_MOTOR,)),
            NetItem(N_("numbness"), ("F-SENSORY-MOTOR-LOSS",), with_tags=(TAG_SENSORY,)),
            NetItem(N_("dark urine"), ("F-RHABDO",), codes=("dark-urine",)),
        ),
    ),
)
BACK_NET = NetLine(
    {(): N_("Seek emergency care at once with back pain and bladder, bowel or saddle symptoms.")},
    (),
)
# Topic -> its lines; R-REST has its own muscle line (§7.5).
SAFETY_NETS: dict[str, tuple[NetLine, ...]] = {
    "venous": (VENOUS_NET,),
    "arterial": (ARTERIAL_NET,),
    "spinal": (SPINAL_NET,),
    "infection": (INFECTION_NET,),
    "muscle": (MUSCLE_NET,),
    "rest": (REST_NET,),
    "cramp": (CRAMP_NET,),
    "general": (VENOUS_NET, BACK_NET),
}

# --------------------------------------------------------------------------- §8.1 cover
CONCERNS: dict[tuple[str, str | None], str] = {
    ("R-PE-SUSPECTED", None): N_("PE"),
    ("R-PHLEGMASIA", None): N_("phlegmasia"),
    ("R-ALI", None): N_("acute limb ischaemia"),
    ("R-CAUDA-EQUINA", None): N_("cauda equina syndrome"),
    ("R-COMPARTMENT", None): N_("compartment syndrome"),
    ("R-NECROTISING", None): N_("necrotising infection"),
    ("R-RHABDO", None): N_("rhabdomyolysis"),
    ("R-SEVERE-ELECTROLYTE", None): N_("the electrolyte disturbance"),
    ("R-BLEEDING-VARICOSE", None): N_("the bleeding"),
    ("R-SPINAL-RED-FLAG", "cancer-neuro"): N_("MSCC"),
    ("R-SPINAL-RED-FLAG", "cancer"): N_("MSCC"),
    ("R-SPINAL-RED-FLAG", "fever"): N_("spinal infection"),
    ("R-SPINAL-RED-FLAG", "fever-cancer"): N_("spinal infection"),
    ("R-RADICULAR-DEFICIT", None): N_("a progressive deficit"),
    ("R-CLTI", None): N_("limb-threatening ischaemia"),
}

HANDOVERS: dict[tuple[str, str], str] = {
    ("R-PE-SUSPECTED", "R-DVT-PATHWAY"): N_(
        "Leg signs too: if CTPA is negative or delayed, ask for a proximal leg-vein ultrasound "
        "there (NICE NG158); in pregnancy the duplex comes first."
    ),
    ("R-ALI", "R-DVT-PATHWAY"): N_(
        "DVT signs too (a pale or blue swollen leg can be venous): ask for a venous duplex there."
    ),
    ("R-COMPARTMENT", "R-DVT-PATHWAY"): N_(
        "DVT signs too (a pale or blue swollen leg can be venous): ask for a venous duplex there."
    ),
    ("R-NECROTISING", "R-DVT-PATHWAY"): N_(
        "DVT signs too (a pale or blue swollen leg can be venous): ask for a venous duplex there."
    ),
    ("*", "R-SVT"): N_(
        "Ask for a superficial and deep vein duplex there (SVT extension, anticoagulation "
        "decision)."
    ),
    ("*", "R-CELLULITIS"): N_(
        "Fever or cellulitis: assess sepsis risk on arrival (NICE NG51); imaging does not delay "
        "antibiotics."
    ),
    ("*", "R-CALF-PAIN-FEVER"): N_(
        "Fever or cellulitis: assess sepsis risk on arrival (NICE NG51); imaging does not delay "
        "antibiotics."
    ),
    ("R-BLEEDING-VARICOSE", "R-VARICOSE"): N_(
        "After the bleed is controlled: vascular service referral now (NICE CG168 1.2.1)."
    ),
    ("R-CAUDA-EQUINA", "R-SPINAL-RED-FLAG"): N_(
        "Active cancer: inform the MSCC coordinator now (NICE NG234); fever: blood cultures "
        "before antibiotics."
    ),
    ("R-RHABDO", "R-MYOSITIS"): N_(
        "Ask for rheumatology follow-up if CK stays high or weakness persists (statin, myositis)."
    ),
}
