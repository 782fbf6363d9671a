"""Sentence templates, filler text and abbreviation tables for the synthetic note generator.

The wording of a note: section headers, the clinician phrases around diagnoses, normal findings that
carry no code, and the paraphrase table that turns an official ICD-10-CM title into what a clinician
writes, with the small functions that turn them into text. Templates use `[a|b|c]` for a random choice
and `{name}` for a slot the generator fills (`{m}` is a mention whose span it records).
"""

from __future__ import annotations

import itertools
import random
import re
from functools import lru_cache

_CHOICE = re.compile(r"\[([^\[\]]*)\]")
_SLOT = re.compile(r"\{(\w+)\}")


@lru_cache(maxsize=4096)
def _compile(template: str) -> tuple[str | tuple[str, ...], ...]:
    parts: list[str | tuple[str, ...]] = []
    position = 0
    for match in _CHOICE.finditer(template):
        if match.start() > position:
            parts.append(template[position : match.start()])
        parts.append(tuple(match.group(1).split("|")))
        position = match.end()
    if position < len(template):
        parts.append(template[position:])
    return tuple(parts)


def expand(rng: random.Random, template: str) -> str:
    """One random reading of a template: every `[a|b]` replaced by one of its alternatives."""
    return "".join(part if isinstance(part, str) else rng.choice(part) for part in _compile(template))


@lru_cache(maxsize=4096)
def slots(template: str) -> tuple[tuple[str, str | None], ...]:
    """The template cut at its `{name}` slots: (text before the slot, slot name), the last name None."""
    pieces = []
    position = 0
    for match in _SLOT.finditer(template):
        pieces.append((template[position : match.start()], match.group(1)))
        position = match.end()
    pieces.append((template[position:], None))
    return tuple(pieces)


# --- note skeleton ---------------------------------------------------------------------------------

NOTE_TITLES = {
    "hp": ["ADMISSION H&P", "Medicine Admission Note", "HOSPITALIST ADMISSION NOTE", "History and Physical"],
    "ds": ["DISCHARGE SUMMARY", "Discharge Summary", "MEDICINE DISCHARGE SUMMARY"],
}

SECTION_HEADERS = {
    "cc": ["CHIEF COMPLAINT:", "Chief Complaint:", "CC:"],
    "hpi": ["HISTORY OF PRESENT ILLNESS:", "HPI:", "History of Present Illness:"],
    "pmh": ["PAST MEDICAL HISTORY:", "PMH:", "Past Medical History:", "PMHx:"],
    "psh": ["PAST SURGICAL HISTORY:", "PSH:", "Past Surgical History:"],
    "meds": ["MEDICATIONS:", "Medications on Admission:", "Home Meds:", "MEDS:", "Outpatient Medications:"],
    "allergies": ["ALLERGIES:", "Allergies:", "All:"],
    "social": ["SOCIAL HISTORY:", "SH:", "Social History:", "Social Hx:"],
    "family": ["FAMILY HISTORY:", "FH:", "Family History:", "FHx:"],
    "ros": ["REVIEW OF SYSTEMS:", "ROS:", "Review of Systems:"],
    "exam": ["PHYSICAL EXAM:", "PE:", "Physical Exam:", "EXAM ON ADMISSION:"],
    "labs": ["LABS/IMAGING:", "Pertinent Results:", "LABS:", "Data:", "Labs and Imaging:"],
    "plan": ["ASSESSMENT AND "
        "PLAN:", "A/P:", "Assessment/Plan:", "ASSESSMENT & PLAN:", "Impression and Plan:"],
    "course": ["BRIEF HOSPITAL COURSE:", "Hospital Course:", "HOSPITAL COURSE BY PROBLEM:"],
    "dx": ["DISCHARGE DIAGNOSES:", "Discharge Diagnosis:", "FINAL DIAGNOSES:"],
    "dc_meds": ["DISCHARGE MEDICATIONS:", "Discharge Medications:"],
    "dc_condition": ["DISCHARGE CONDITION:", "Discharge Condition:", "Condition at discharge:"],
    "dc_instructions": ["DISCHARGE INSTRUCTIONS:", "Discharge Instructions:", "Instructions for patient:"],
    "followup": ["FOLLOWUP INSTRUCTIONS:", "Follow-up:", "Followup Appointments:"],
}

# {age}, {s} (M/F), {sex} (male/female), {noun} (man/woman ...)
AGE_SEX_FORMATS = [
    "{age} y/o {s}", "{age}yo {sex}", "{age} year old {noun}", "{age}{s}", "{age}-year-old {noun}",
    "{age} yo {sex}", "{age} y.o. {sex}", "{age} YO{s}",
]
SEX_WORDS = {
    "M": {"sex": ["male", "M"], "noun": ["man", "male", "gentleman"]},
    "F": {"sex": ["female", "F"], "noun": ["woman", "female", "lady"]},
}

# Chief complaints by ICD-10-CM chapter letter of the principal diagnosis.
CHIEF_COMPLAINTS = {
    "A": ["fever", "fevers and chills", "fever, malaise"], "B": ["fever", "rash", "malaise"],
    "C": ["weakness", "abnormal imaging", "failure to thrive", "weight loss"],
    "D": ["fatigue", "abnormal labs", "weakness", "lightheadedness"],
    "E": ["abnormal labs", "weakness", "confusion", "poor PO intake"],
    "F": ["agitation", "confusion", "intoxication", "psychiatric evaluation"],
    "G": ["confusion", "weakness", "headache", "unresponsiveness"],
    "H": ["vision changes", "dizziness", "ear pain"],
    "I": ["chest pain", "SOB", "DOE", "palpitations", "leg swelling", "syncope"],
    "J": ["SOB", "cough", "dyspnea", "hypoxia", "productive cough"],
    "K": ["abdominal pain", "N/V", "melena", "BRBPR", "abd distension"],
    "L": ["leg redness", "wound", "rash"], "M": ["back pain", "joint pain", "weakness", "fall"],
    "N": ["decreased UOP", "abnormal labs", "dysuria", "flank pain"],
    "O": ["contractions", "labor", "SROM", "scheduled induction", "decreased fetal movement"],
    "Q": ["abnormal imaging", "fatigue"], "R": ["weakness", "fall", "AMS", "abnormal labs"],
    "S": ["fall", "s/p fall", "trauma", "MVC"], "T": ["ingestion", "fall", "drug reaction"],
    "Z": ["weakness", "scheduled admission", "planned procedure"],
}
# When every complaint of the chapter names one of the note's codes, a neutral one is used.
GENERIC_COMPLAINTS = ["abnormal labs", "evaluation", "transfer from OSH", "worsening symptoms"]

# {pt} = age/sex phrase, {pmh} = comma list of chronic problems, {cc} = chief complaint
HPI_OPENINGS_WITH_PMH = [
    "{pt} with [PMH|PMHx|a PMH|a past medical history] [of|significant for|notable for] {pmh} who [presents "
    "with|presented with|p/w|presents to the ED with|comes in with] {cc}.",
    "Pt is a {pt} with {pmh} [who presents with|presenting with|p/w|presenting for] {cc} [x 3 days|x 2 "
    "days|since yesterday|for the past week|of 1 day duration].",
    "{pt}, [known to our service|well known to us|previously healthy per family|followed by PCP], with "
    "{pmh}, [admitted|sent in|referred from clinic|BIBA] for {cc}.",
]
HPI_OPENINGS_NO_PMH = [
    "{pt} with no significant PMH who [presents with|p/w|presented with] {cc}.",
    "Pt is a {pt} [without prior medical history|with no known medical problems] [presenting with|p/w] {cc}.",
    "{pt} [BIBA|brought in by family|sent from clinic] for {cc}.",
]

# Sentences that carry the mention of an acute (HPI) diagnosis.
HPI_MENTION = [
    "[In the ED|On arrival|On presentation], [found to have|noted to have|pt was found to have] {m}.",
    "Workup [in the ED|on admission|at OSH] [notable for|significant for|revealed] {m}.",
    "[Pt|Patient] was [recently|newly|just] diagnosed with {m} [at OSH|by PCP|last week|this AM].",
    "Admitted [to medicine|to the floor|to the hospitalist service] for {m}.",
    "[Concerning for|Consistent with|c/w|Presentation c/w] {m}[ per ED| per imaging|].",
    "{m} [noted|diagnosed|identified] [on admission|in the ED|on initial workup].",
    "Course [complicated by|c/b|notable for] {m}.",
]
PMH_ITEM_SUFFIXES = ["", "", "", "", " (dx [2009|2012|2015|2018|2020|2021])", " - stable", " - followed by "
    "PCP",
                     " (on meds)", ", longstanding"]
SOCIAL_MENTION = [
    "{m}.", "[Endorses|Reports|Pt endorses|+] {m}.", "{m} [per pt|per family|per chart].",
    "[Tobacco/EtOH/drugs:|Substance use:|Habits:] {m}.",
]
ASSESSMENT_SUMMARY = [
    "{pt} [admitted|here] with {cc}.", "{pt} with {cc}, [admitted to medicine|now improving|hemodynamically "
        "stable].",
    "In summary, {pt} [presenting|admitted] with {cc}.",
]
PLAN_ITEM_PREFIXES = ["#", "# ", "", "- ", "#"]

# Plan fragments after "#mention:", by chapter letter; the generic list serves every chapter.
PLAN_BY_CHAPTER = {
    "A": ["[f/u BCx|BCx pending|cultures NGTD], [cont abx|on IV abx|narrow abx per ID], [ID following|trend "
        "temperature curve]",
          "[cont|continue] [vanc/zosyn|ceftriaxone|cefepime], [lactate trend|trend WBC], [IVF|fluid "
          "resuscitation]"],
    "C": ["[onc following|heme/onc consulted|outpt oncologist aware], [pain control|symptom mgmt], "
          "[goals of care discussion|family meeting|f/u path]"],
    "D": ["[transfuse for Hgb < 7|trend H/H|iron studies pending], [guaiac stools|GI aware|monitor for "
        "bleeding]",
          "[heme consulted|trend CBC], [hold anticoagulation|monitor]"],
    "E": ["[ISS|insulin sliding scale|basal/bolus insulin], [A1c pending|fingersticks AC/HS|endocrine "
        "consulted]",
          "[replete lytes|repletion PRN|trend BMP q12h], [monitor|recheck in AM]",
          "[cont home regimen|continue home meds], [nutrition consult|dietitian following]"],
    "F": ["[CIWA protocol|psych consulted|SW consulted], [thiamine/folate|monitor for withdrawal|1:1 sitter "
        "PRN]",
          "[cont home psych meds|psych following], [frequent reorientation|sleep hygiene]"],
    "G": ["[neuro consulted|neuro checks q4h|MRI brain pending], [neuro checks|safety precautions]",
          "[cont home meds|pain control], [PT/OT|neuro following]"],
    "I": ["[tele|monitor on tele|telemetry], [cards following|cardiology consulted], [cont home meds|"
          "titrate meds as BP tolerates]",
          "[diurese with IV lasix|goal net negative 1L|strict I/Os, daily weights], [TTE pending|repeat "
          "echo]",
          "[rate control|BB for rate control|cont anticoagulation], [CHADS-VASc reviewed|tele]"],
    "J": ["[nebs|duonebs q6h|albuterol PRN], [wean O2 as tolerated|goal SpO2 88-92%|supplemental O2]",
          "[CTX/azithro|abx per sputum cx|levofloxacin], [incentive spirometry|chest PT], [CXR in AM]",
          "[steroids|prednisone burst], [pulm consulted|wean O2]"],
    "K": ["[NPO|clears, advance diet as tolerated|bowel rest], [GI consulted|GI following], [IV PPI|PPI BID]",
          "[trend LFTs|RUQ US pending|surgery aware], [pain control|antiemetics PRN]"],
    "L": ["[wound care consulted|local wound care], [IV abx|cefazolin], [mark borders|elevate extremity]"],
    "M": ["[PT/OT|pain control|ortho consulted], [cont home meds|heat/ice PRN]",
          "[ortho following|WBAT|non-weight bearing], [pain regimen|bowel regimen]"],
    "N": ["[IVF|gentle hydration|hold nephrotoxins], [trend Cr|renal US|urine lytes], [renally dose meds]",
          "[nephro consulted|nephrology following|outpt nephrologist aware], [strict I/Os|trend BMP]",
          "[UA/UCx|f/u UCx|urology aware], [monitor UOP|bladder scan PRN]"],
    "R": ["[supportive care|monitor|trend], [workup per primary|w/u as above], [PRN meds]"],
    "S": ["[ortho consulted|trauma surgery following], [pain control|multimodal analgesia], [PT/OT|safety "
        "precautions]"],
    "T": ["[tox consulted|poison control contacted], [supportive care|monitor on tele], [hold offending "
        "agent]"],
    "Z": ["[cont home regimen|noted|no acute issues], [f/u outpt|PCP aware]",
          "[confirmed with pt|documented|noted on admission], [no change this admission|continue as before]"],
}
GENERIC_PLAN = [
    "[cont home meds|continue home regimen|monitor|stable], [f/u outpt|PCP f/u|recheck in AM]",
    "[likely|probably|suspect] [multifactorial|chronic, at baseline|improving], [monitor|trend|supportive "
    "care]",
    "[stable|at baseline|improved], [no changes|cont current mgmt|no acute intervention]",
    "[consult appreciated|specialist following], [plan per consult|will discuss on rounds]",
]
COURSE_MENTION = [
    "# {m}: {plan}.",
    "{m}: {plan}.",
    "# {m} - {plan}. [Stable|Improving|Unchanged|Better] [at discharge|by HD3|prior to discharge].",
    "#{m}: {plan}; [cont at discharge|f/u as outpt|no changes at discharge].",
]
PLAN_FILLER_ITEMS = [
    "#FEN: [regular diet|cardiac diet|diabetic diet|NPO after MN|advance diet as tolerated], [replete lytes "
    "PRN|IVF as above|no mIVF]",
    "#PPx: [heparin SQ|SQH|enoxaparin|SCDs], [bowel regimen|PPI not indicated]",
    "#Code: [Full|Full code (confirmed)|Full code, confirmed with pt|Full, discussed with HCP]",
    "#Dispo: [pending PT eval|home with services|likely home in 1-2 days|rehab screen|pending clinical "
    "improvement]",
    "#Access: [PIV x2|PIV|midline]",
    "#Contact: [wife|husband|daughter|son|HCP] [at bedside|updated by phone]",
    "#Lines: [PIV|PIV x2]",
]

# --- distractors -----------------------------------------------------------------------------------

NEGATED_HPI = [
    "[Denies|Pt denies|No|Negative for|Denies any] {m}.",
    "[No evidence of|No signs of|Without] {m} [on exam|on presentation|per ED].",
    "[Pt|Patient] [denies|reports no] [recent|prior|current] {m}.",
]
NEGATED_ROS = [
    "[ROS negative for|ROS: neg for|Negative for] {m}.", "Denies {m}.", "No {m}.",
]
NEGATED_RESULTS = [
    "[CT|CTA|Imaging|CXR|US] [negative for|without evidence of|did not show] {m}.",
    "[No evidence of|No] {m} on [imaging|CT|CXR|US|echo].",
    "{m} [ruled out|was ruled out|r/o'd] [with|by] [CTA|imaging|serial trops|LENIs|cultures].",
]
NEGATED_PLAN = [
    "{m} [ruled out|was ruled out|excluded].", "[Low suspicion for|No evidence of|Doubt] {m}.",
    "[Initially|Briefly] concerned for {m}, [however|but] [w/u negative|imaging negative|ruled out].",
]
RULE_OUT_HPI = [
    "[Admitted to|Sent in to|ED asked to admit to] [r/o|rule out] {m}.",
    "[Plan to|Will] [r/o|rule out] {m}.",
]
RULE_OUT_PLAN = [
    "[r/o|R/O|Rule out] {m}: [workup pending|will obtain imaging|check labs], [will d/c workup if neg|low "
    "pretest probability|f/u results].",
    "[#r/o|# R/O|#Rule out] {m} - [w/u in progress|studies pending|further testing ordered], [low "
    "suspicion|monitor].",
]
FAMILY_HISTORY = [
    "[Mother|Father|Sister|Brother|Maternal aunt|Paternal uncle|Maternal grandmother|Paternal grandfather] "
    "[with|w/|had|died of] {m}[ in her 60s| in his 50s| at age 70| at 55| at 62|].",
    "[FHx|Family hx|FH] [significant for|notable for|+ for] {m} in [mother|father|sibling|brother|sister].",
    "[Father|Mother] [h/o|with hx of] {m}.",
]
DISTRACTOR_KIND_WEIGHTS = {"negated": 0.55, "rule_out": 0.25, "family_history": 0.2}
# Leading words that make a mention read as a personal history, which no distractor sentence can carry.
HISTORY_PREFIXES = ("h/o", "hx", "history", "s/p", "personal", "status", "long term", "chronic use")

# --- filler: text that is not evidence for any code ------------------------------------------------
# Filler names no condition, so that it can sit in any note without contradicting the gold codes.

HPI_FILLER = [
    "[Per pt|Per family|Per EMS|Per chart review], [symptoms|sx] [started|began] [2 days ago|yesterday|this "
    "AM|several days PTA] and [have been|were] [progressive|intermittent|constant].",
    "[In the ED|In ED], initial VS were [stable|notable for HR in the 90s|notable for BP in the "
    "140s|afebrile].",
    "[Received|Given] [IVF|1L NS|2L LR|IV fluids|home meds|tylenol] in the ED[ prior to admission| before "
    "transfer|].",
    "[Pt|Patient] [lives|resides] [at home|with family|alone|at ALF] and is [independent|mostly independent] "
    "at baseline.",
    "[Of note,|Notably,|Of note] [recent|last] [PCP visit|clinic visit|outpt labs] [2 weeks ago|last "
    "month|in the spring] [was|were] [unremarkable|reassuring|without changes].",
    "[Pt|Patient] reports [decreased PO intake|feeling unwell|low energy] [for several days|over the past "
    "week].",
    "[Family|Daughter|Son|Wife|Husband] at bedside [provides|assists with] [history|collateral].",
    "[Pt|Patient] [was|is] [compliant|adherent|reportedly adherent] with [home meds|medications|regimen].",
    "[EMS|Ambulance] [noted|reported] [stable VS|no acute distress] en route.",
    "[ED|Emergency dept] course: [labs drawn|imaging obtained|consults called], [admitted|accepted] to "
    "[medicine|the floor|hospitalist service].",
    "[Pt|Patient] [last saw|was last seen by] PCP [recently|a few months ago|last year].",
    "Otherwise [feeling|doing] [well|at baseline] [until|prior to] [this episode|the past few days].",
    "[Pt|Patient] [is a poor historian|is a good historian|was able to provide history], [history obtained "
    "from pt and chart|supplemented by family|per chart review].",
    "[Recent travel|Sick contacts|Recent hospitalization]: [none|denies|none reported].",
    "[Pt|Patient] [has not|had not] [seen a doctor|followed up with PCP] [in over a year|since last "
    "admission|recently].",
    "[On the floor|On arrival to the floor|Upon arrival to the floor], pt [was comfortable|was "
    "resting|reported feeling better|had no complaints].",
    "[VS on transfer|Transfer VS|VS prior to transfer] [were stable|were within normal limits|were "
    "unchanged].",
    "[Pt|Patient] [was last at baseline|was at baseline|last felt well] [2 days ago|last week|yesterday "
    "evening].",
    "[Pt|Patient] [notes|reports] [feeling tired|decreased energy|decreased PO intake] but is otherwise "
    "[without complaints|at baseline].",
    "[ED|Emergency department] [team|provider] [discussed the case with|spoke with|paged] the [admitting "
    "team|hospitalist|night float].",
    "[Of note,|Notably,] pt [recently|just] [changed insurance|moved to the area|established with a new "
    "PCP].",
    "[Pt|Patient] uses a [pill box|pill organizer] [and family helps with meds|and manages own meds].",
    "[Pt|Patient] [was|had been] [at home|at rehab|visiting family] when [symptoms began|this started].",
    "[ED labs|Initial labs] [as below|were reviewed|are noted below].",
    "[Pt|Patient] [arrived|came in] [by private car|by ambulance|with family|via EMS] [this evening|this "
    "AM|overnight|this afternoon].",
    "[Per family|Per daughter|Per son], pt has been [less active|more tired|eating less] [lately|this "
    "week|over the past month].",
    "[Pt|Patient] [denies|reports no] [recent medication changes|new medications|missed doses][ per pt| per "
    "family|].",
    "[Baseline|At baseline], pt [ambulates|walks] [with a walker|with a cane|independently] and [lives "
    "with|is supported by] [family|spouse|children].",
    "[History is|History was] [limited by|obtained despite] [hearing impairment|language barrier|poor "
    "recall], [an interpreter was used|family assisted|chart reviewed].",
    "[Pt|Patient] [was seen|was evaluated] [at urgent care|in clinic|by PCP] [2 days ago|last "
    "week|yesterday] and [sent to the ED|told to come in|advised to seek care].",
    "[Pt|Patient] [tried|took] [tylenol|OTC meds|rest and fluids] at home [without relief|with minimal "
    "relief|without improvement].",
    "[Pt|Patient] [states|says] [symptoms|this] [feels|is] [similar to|different from] prior episodes.",
    "[Outside records|OSH records|Records from PCP] [were reviewed|are pending|were requested].",
    "[Pt|Patient] [is|was] [accompanied by|here with] [wife|husband|daughter|son|a friend|caregiver], who "
    "[confirms the history|helped with history].",
    "[Prior to arrival|PTA], pt [was in usual state of health|had been doing well|was at baseline][ per "
    "family| per pt|].",
    "[Triage|ED triage] [VS|vitals] [were unremarkable|were within normal limits|were stable].",
]
ROS_FILLER = [
    "[10-point|12-point|Full] ROS [otherwise negative|reviewed and negative except as per HPI|neg except per "
    "HPI].",
    "[All other systems|Remainder of ROS] [reviewed and negative|negative].",
    "Constitutional: [as per HPI|no weight change]. Eyes: [no vision changes|negative]. ENT: negative.",
    "Skin: [no rashes|negative]. Heme: [no easy bruising|negative]. Psych: [negative|mood ok].",
]
VITALS_TEMPLATE = "[VS:|Vitals:|VS -] T {temp} HR {hr} BP {sbp}/{dbp} RR {rr} SpO2 {spo2}% [RA|on RA|2L NC]"
EXAM_FILLER = {
    "general": ["General: [NAD|in no acute distress|A&Ox3|alert, NAD|comfortable appearing]",
                "Gen: [NAD, pleasant|lying in bed, NAD|awake, alert]"],
    "heent": ["HEENT: [NCAT|NC/AT], [MMM|EOMI, PERRLA|anicteric sclera], [OP clear|no JVD]"],
    "neck": ["Neck: [supple|supple, no LAD|no JVD]"],
    "cv": ["CV: [RRR, no m/r/g|RRR, normal S1/S2|regular rate and rhythm, no murmurs]",
           "Heart: [RRR|S1S2 normal], [no m/r/g|no murmurs]"],
    "lungs": ["Lungs: [CTAB|CTA bilaterally|clear to auscultation b/l], [no w/r/r|no wheezes, rales or "
        "rhonchi|good air movement]", "Resp: [CTAB|unlabored, clear]"],
    "abd": ["Abd: [soft, NT/ND|soft, non-tender, non-distended], [+BS|normoactive BS|no rebound or "
        "guarding]"],
    "ext": ["Ext: [WWP|warm and well perfused], [no c/c/e|no edema|2+ DP pulses b/l]"],
    "skin": ["Skin: [warm, dry|no rashes|intact]"],
    "neuro": ["Neuro: [grossly nonfocal|A&Ox3, CN II-XII intact|moving all extremities|strength 5/5 "
        "throughout]"],
    "psych": ["Psych: [appropriate|calm, cooperative|normal mood and affect]"],
}
# A finding that names one of these words replaces the normal filler line of that exam system.
EXAM_SYSTEM_KEYWORDS = {
    "cv": ("murmur", "irregular", "tachy", "jvd", "jvp", "rhythm", "s3"),
    "lungs": ("crackle", "rales", "wheez", "rhonchi", "breath sounds", "lung"),
    "abd": ("abd", "tender", "distend", "ascites", "rebound"),
    "ext": ("edema", "pulse", "ext", "leg", "foot", "calf"),
    "skin": ("skin", "rash", "ulcer", "wound", "erythema"),
    "neuro": ("neuro", "weakness", "aphasia", "facial", "drift", "confus", "orient"),
    "heent": ("icter", "sclera", "jaundice", "mucous"),
    "general": ("distress", "cachectic", "ill-appearing"),
}
EXAM_SYSTEM_LABELS = {"general": "General", "heent": "HEENT", "neck": "Neck", "cv": "CV", "lungs": "Lungs",
                      "abd": "Abd", "ext": "Ext", "skin": "Skin", "neuro": "Neuro", "psych": "Psych"}


def exam_system(finding: str) -> str | None:
    """The organ system an exam finding ('crackles at the R base') is about; None for labs and imaging."""
    lowered = finding.lower()
    if re.search(r"[\d:]", lowered):
        return None
    systems = (system for system, words in EXAM_SYSTEM_KEYWORDS.items() if any(w in lowered for w in words))
    return next(systems, None)


# (analyte, low, high, decimals): a normal lab panel; a finding naming an analyte drops it from the panel.
LAB_PANEL = [
    ("WBC", 5.0, 9.5, 1), ("Hgb", 12.5, 15.5, 1), ("Hct", 37, 46, 0), ("Plt", 180, 340, 0),
    ("Na", 136, 143, 0), ("K", 3.6, 4.8, 1), ("Cl", 99, 106, 0), ("HCO3", 23, 28, 0), ("BUN", 9, 19, 0),
    ("Cr", 0.7, 1.1, 1), ("Glu", 82, 125, 0), ("Ca", 8.7, 10.1, 1), ("Mg", 1.8, 2.3, 1),
    ("Phos", 2.7, 4.2, 1), ("AST", 15, 35, 0), ("ALT", 12, 38, 0), ("AlkP", 50, 110, 0),
    ("Tbili", 0.3, 1.0, 1), ("Alb", 3.6, 4.6, 1),
    ("INR", 0.9, 1.1, 1), ("Lactate", 0.7, 1.5, 1), ("TSH", 0.8, 3.5, 1),
]
LAB_PANEL_LEADS = ["[Admission labs|Labs on admission|Initial labs|AM labs|Labs]:", "[BMP|Chem 7|CBC/BMP]:"]
LATER_LAB_LEADS = ["[Discharge labs|Labs on HD2|Repeat labs|Trend|Labs on HD3|AM labs|Labs prior to "
    "discharge]:"]
IMAGING_FILLER = [
    ("cxr", "CXR: [no acute cardiopulmonary process|no acute process|clear lungs, no effusion]."),
    ("ekg", "[EKG|ECG]: [NSR|sinus rhythm] at [72|80|88|64|95], [normal axis|no acute ST changes|unchanged "
            "from prior]."),
    ("head", "CT head: [no acute intracranial process|no acute intracranial abnormality]."),
    ("ua", "UA: [bland|negative LE/nitrite|no pyuria]."),
    ("abd", "[RUQ US|CT A/P]: [no acute abnormality|unremarkable|no acute intra-abdominal process]."),
]
IMAGING_SUPPRESS = {
    "cxr": ("cxr", "chest", "lung", "pulmonary", "pneumon", "effusion", "infiltrate", "consolidation"),
    "ekg": ("ekg", "ecg", "rhythm", "afib", "fibrillation", "flutter", "st ", "qt", "block", "brady",
            "tachy"),
    "head": ("ct head", "head", "brain", "intracranial", "stroke", "mri"),
    "ua": ("ua", "urine", "uti", "pyuria", "nitrite"),
    "abd": ("abd", "ct a/p", "liver", "hepat", "gallbladder", "bowel", "pancrea", "ruq", "kidney", "renal"),
    "renal": ("kidney", "renal", "hydro", "bladder", "stone", "ckd", "aki", "esrd", "cr "),
    "echo": ("echo", "ef ", "lvef", "valve", "stenosis", "regurg", "pericard", "hf", "heart failure", "chf"),
    "duplex": ("dvt", "duplex", "thromb", "vein", "venous", "embol"),
    "micro": ("culture", "bcx", "ucx", "mrsa", "bacteremia", "sepsis", "infect"),
}
# Long report-style paragraphs (technique and comparison boilerplate) that pad the results of long notes.
REPORT_FILLER = [
    ("cxr", "[Portable chest radiograph: TECHNIQUE: single frontal view.|PA and lateral chest radiograph: "
            "frontal and lateral views of the chest.] COMPARISON: [prior study from last year|none "
            "available|outside films]. FINDINGS: [The heart size is normal.|Heart size is top normal.] [The "
            "mediastinal and hilar contours are unremarkable.|Mediastinal contours are stable.] [The pleural "
            "spaces are clear.|Lungs are well expanded.] [Osseous structures are intact.|No acute osseous "
            "abnormality.]"),
    ("renal", "Renal ultrasound: The right kidney measures [10.8|11.2|10.4] cm. The left kidney measures "
              "[11.0|10.6|11.3] cm. [The collecting systems are not dilated.|Both kidneys are normal in "
              "echotexture.] [The bladder is moderately distended.|The bladder is decompressed.]"),
    ("echo", "Echo: [The left atrium is normal in size.|The left atrium is mildly dilated.] [Left "
             "ventricular wall thickness, cavity size, and regional/global systolic function are normal.|LV "
             "systolic function is normal, LVEF > 55%.] [The aortic valve leaflets are mildly thickened.|The "
             "aortic valve is trileaflet.] [The pericardium appears normal.|Normal pericardium.]"),
    ("abd", "CT abdomen/pelvis with contrast: [TECHNIQUE: MDCT images were obtained from the lung bases to "
            "the pubic symphysis after IV contrast.|Axial images were acquired through the abdomen and "
            "pelvis.] [The liver, spleen, and adrenal glands are unremarkable.|The visualized solid organs "
            "are unremarkable.] [No free air or free fluid.|There is no free fluid.] [The appendix is "
            "normal.|The appendix is not visualized.]"),
    ("duplex", "Lower extremity venous duplex: [Grayscale, color and spectral Doppler images were obtained "
               "of the common femoral, femoral and popliteal veins.|Compression and Doppler evaluation was "
               "performed.] [There is normal compressibility, flow and augmentation.|Normal phasic flow is "
               "seen.]"),
    ("head", "MRI brain: [Multiplanar, multisequence images were obtained without contrast.|Standard "
             "protocol without gadolinium.] [The ventricles and sulci are age appropriate.|Mild age-related "
             "volume loss.] [No acute findings on diffusion weighted images.|No restricted diffusion.]"),
    ("micro", "Microbiology: [Blood cultures x2: no growth to date.|BCx x2 NGTD.] [Urine culture: <10,000 "
              "organisms/ml.|UCx: mixed flora, likely contamination.] [Nasal swab screen: "
              "negative.|Screening swab negative.]"),
    ("ekg", "[EKG|ECG] [on admission|on discharge|repeat]: [sinus rhythm, rate 76, normal intervals, no "
            "acute ST-T changes|sinus rhythm, normal axis, borderline first degree AV delay, no significant "
            "change from prior]."),
]
FILLER_MEDS = [
    "acetaminophen [500|650] mg PO q6h PRN pain", "docusate 100 mg PO BID", "senna 8.6 mg PO qHS PRN",
    "polyethylene glycol 17 g PO daily PRN", "multivitamin 1 tab PO daily", "melatonin 3 mg PO qHS PRN sleep",
    "cholecalciferol 1000 units PO daily", "ondansetron 4 mg IV q6h PRN nausea", "heparin 5000 units SC q8h",
    "bisacodyl 10 mg PR daily PRN", "lidocaine 5% patch daily", "sodium chloride 0.9% flush 10 mL IV q8h",
]
ALLERGY_FILLER = ["NKDA", "No Known Drug Allergies", "NKDA.", "No known allergies", "NKA"]
PSH_FILLER = [
    "[appendectomy|appy] [remote|as a child|(1998)]", "[tonsillectomy|T&A] as a child",
    "[cataract surgery|cataract extraction] [b/l|OD|OS]", "[hernia repair|umbilical repair] [2010|remote]",
    "[none|no prior surgeries|denies]", "[carpal tunnel release|knee arthroscopy] [remote|2014]",
]
SOCIAL_FILLER = [
    "Lives [with wife|with husband|with daughter|alone|with partner|at ALF|with son and his family][ in an "
    "apartment| in a house| in a 2-story home|].",
    "[Retired|Former|Works as a|Worked as a] [teacher|bus driver|nurse|engineer|accountant|construction "
    "worker|cook|mechanic|secretary|postal worker].",
    "[Independent in ADLs/IADLs|Independent in ADLs|Needs help with IADLs|Ambulates with cane|Ambulates with "
    "walker|Ambulates independently].",
    "[Daughter|Son|Wife|Husband|Niece] is [HCP|health care proxy|emergency contact].",
    "[Drives|Does not drive], [active in church|enjoys gardening|walks daily|spends time with "
    "grandchildren].",
]
FAMILY_FILLER = [
    "[Noncontributory|Non-contributory|NC|Reviewed and noncontributory|Unknown, pt adopted|Reviewed, not "
    "pertinent to this admission]."
]
COURSE_FILLER = [
    "[Pt|Patient] was admitted to [medicine|the hospitalist service|the floor] [for further management|for "
    "monitoring|for workup].",
    "[Diet|PO intake] was [advanced as tolerated|advanced to regular diet] and pt [tolerated it well|was "
    "tolerating PO].",
    "[PT/OT|Physical therapy|PT and OT] [evaluated|consulted|saw] the patient and recommended [home with "
    "services|home with PT|rehab|no PT needs].",
    "[Pain|Discomfort] was [controlled|well controlled] with [tylenol|PO pain meds|a multimodal regimen].",
    "[Pt|Patient] [ambulated|was ambulating] [independently|with assistance|in the hallway] prior to "
    "discharge.",
    "[Home meds|Outpatient meds] were [continued|resumed|held on admission and restarted] [as appropriate|on "
    "discharge|once stable].",
    "[Case management|SW|Social work] [assisted with|helped coordinate] [dispo planning|discharge "
    "planning|home services].",
    "[VS|Vital signs] [remained stable|were stable|were within normal limits] [throughout the "
    "stay|overnight|on the day of discharge].",
    "[Labs|AM labs] were [trended|followed daily] and [remained stable|improved|at baseline] at discharge.",
    "[Medication reconciliation|Med rec] [was completed|done with pharmacy] [prior to discharge|on "
    "admission].",
    "[The patient|Pt] and [family|wife|husband|daughter|son] were [updated|updated daily] on the plan of "
    "care.",
    "[Discussed with attending|Seen and examined with attending|Plan discussed with team] [on rounds|today].",
    "[Pt|Patient] [remained|was] [afebrile|hemodynamically stable|on room air] [throughout|for > 24h] prior "
    "to discharge.",
    "[IV access|PIV] was [removed|discontinued] [prior to discharge|on day of discharge].",
    "[Tele|Telemetry] [was discontinued|showed no events][ on HD2| after 24h|].",
    "[Safety precautions|Aspiration precautions] were [maintained|in place] during the admission.",
    "[Foley|Urinary catheter] was [removed|not required] and pt [voided spontaneously|voided without "
    "issues].",
    "[Code status was|Goals of care were] [confirmed|readdressed] [on admission|during stay][ - full code|].",
    "[Pt|Patient] was [seen|evaluated] by [nutrition|the dietitian] who recommended [supplements with "
    "meals|a regular diet|oral supplements TID].",
    "[Bowel regimen|A bowel regimen] was [started|continued] and pt [had a BM|had regular BMs] prior to "
    "discharge.",
    "[Pt|Patient] [slept well|was comfortable overnight|had an uneventful night] [on the night before "
    "discharge|on HD2|overnight].",
    "[Home PT|VNA services|Home nursing] [was arranged|was set up] [by case management|prior to discharge].",
    "[Pt|Patient] was [deemed|felt to be] [medically stable|stable] for discharge [by the team|on the day of "
    "discharge|after discussion with attending].",
    "[VTE prophylaxis|Prophylaxis] was [provided|maintained] with [SQ heparin|SC heparin|SCDs] during the "
    "stay.",
    "[Blood glucose|Fingersticks] were [monitored|checked] [AC/HS|QID] while inpatient.",
    "[Electrolytes|Lytes] were [repleted|monitored and repleted] [as needed|per protocol|PRN].",
    "[Pt|Patient] [was able to|could] [climb stairs|ambulate] with PT [prior to discharge|on HD2].",
    "[Pt|Patient] was [educated on|counseled on] [the new medications|warning signs|the discharge plan] and "
    "[verbalized understanding|agreed with the plan].",
    "[The team|We] [discussed|reviewed] the [discharge plan|follow-up plan] with [pt and family|the patient] "
    "at length.",
    "[Outpatient|Pending] [labs|studies] [to be followed up|will be followed] by [PCP|the outpatient team].",
    "[IVF|IV fluids] were [stopped|discontinued] once pt was [tolerating PO|taking adequate PO].",
    "[Pt|Patient] [worked with PT|participated in PT] [daily|twice daily] and [made good progress|improved "
    "mobility].",
    "[Pt|Patient] [denied|reported no] [new complaints|issues] on the day of discharge.",
    "[Vital signs|VS] on the day of discharge: [stable|within normal limits|afebrile, normotensive].",
    "[Pt|Patient] was [transitioned|switched] to [PO meds|oral medications] [on HD2|on HD3|prior to "
    "discharge].",
    "[Consultants|All consultants] [signed off|agreed with discharge] [prior to discharge|on the day of "
    "discharge].",
    "[Pt|Patient] [was out of bed to chair|sat up in chair|ambulated in the hall] [with "
    "nursing|independently] [on HD2|daily].",
    "[Pt|Patient] [is|was] [being discharged|discharged] [home|home with services|to rehab|to home with "
    "family] in [stable|good|improved] condition.",
    "[On HD1|On the day of admission|Overnight on admission], pt [was monitored closely|remained stable|was "
    "placed on continuous monitoring].",
    "[Serial exams|Repeat exams|Daily exams] were [reassuring|unchanged|stable] [throughout|during the "
    "stay].",
    "[Pt|Patient] [was|remained] [alert and oriented|at mental status baseline|appropriate] throughout the "
    "admission.",
    "[Nursing|Nursing staff] [reported|noted] [no overnight events|good PO intake|adequate UOP] [on HD2|on "
    "HD3|daily].",
    "[The|Our] [pharmacy team|pharmacist] [reviewed|adjusted] [the medication list|doses] [for "
    "interactions|for renal function|prior to discharge].",
    "[Pt|Patient] had [vaccines reviewed|vaccination history reviewed] [prior to discharge|during the "
    "stay|with PCP records].",
    "[Incentive spirometry|IS] was [encouraged|used] [throughout the stay|hourly while awake].",
    "[Pt|Patient] [had|was noted to have] [adequate|good] [urine output|PO intake] [on HD2|by "
    "discharge|daily].",
    "[Hospital course|The remainder of the hospital course] was [uncomplicated|otherwise "
    "unremarkable|without further events].",
    "[Pt|Patient] [expressed|voiced] [readiness|a desire] to [go home|be discharged] and [family agreed|the "
    "team agreed].",
    "[Pt|Patient] [was ambulatory|was up and walking] [without assistance|with a walker] [by HD2|by HD3|at "
    "discharge].",
    "[Transportation|A ride home] was [arranged|confirmed] [with family|by case management].",
    "[Pt|Patient] [received|was given] [written|printed] [discharge instructions|medication lists] [in "
    "English|in preferred language|with teach-back].",
    "[Outpatient|Follow-up] [appointments|visits] were [scheduled|made] [prior to discharge|before leaving].",
    "[Pt|Patient] [tolerated|did well with] [the regimen|treatment] [without side effects|without adverse "
    "events].",
    "[Lines|All lines] were [removed|discontinued] and [the site|sites] [was|were] [clean|without erythema].",
    "[Daily weights|Weights] were [recorded|followed] [throughout the stay|daily].",
    "[Pt|Patient] [was|had been] [afebrile|without fevers] for [> 48h|72 hours] at the time of discharge.",
]

HP_PLAN_FILLER = [
    "[Will|Plan to] [reassess|re-evaluate|re-examine] [in AM|on rounds|after results return].",
    "[AM labs|CBC/BMP in AM|Repeat labs in AM] [ordered|to follow].",
    "[Plan discussed with|Case discussed with|Seen and examined with] [attending|Dr. Patel|night float|the "
    "team].",
    "[Pt|Patient] [agrees with|understands] the plan; [questions answered|all questions answered].",
    "[Home meds reviewed|Med rec completed] [with pt|with pharmacy|with family].",
    "[Safety precautions|Aspiration precautions] [in place|ordered].",
    "Activity: [as tolerated|OOB to chair|ambulate with assist].",
    "[Anticipate|Expected] LOS [1-2 days|2-3 midnights|> 2 midnights].",
    "[Family|HCP] [updated|to be updated] [by phone|at bedside] [tonight|in AM].",
    "[Will follow up|F/u] [pending labs|imaging reads|consult recs] [in AM|overnight].",
    "[Signout|Handoff] given to [night float|cross-cover] [with contingencies|with plan above].",
    "[Tele|Telemetry] [ordered|to be reassessed in AM|not indicated].",
    "[Nursing|RN] to [call|page] for [changes|any acute events|VS outside parameters].",
    "[Strict I/Os|Daily weights|Orthostatic VS] [ordered|in AM].",
    "[PT/OT|PT eval|OT eval] [ordered|consulted] for [mobility|safety eval|dispo planning].",
    "[SW|Case management] [consulted|to see] for [dispo|home needs|insurance questions].",
    "[Consults|Specialty recs] [to follow|pending], [will adjust plan accordingly|will incorporate recs].",
]

DISCHARGE_MEDS_LEAD = ("[Same as admission medications, with the following continued:|Resume home "
    "medications as listed above, and:|Home medications unchanged; inpatient additions to continue:]")
DC_CONDITION = [
    "Mental Status: [Clear and coherent|Alert and oriented|At baseline]. Level of Consciousness: [Alert and "
    "interactive|Alert]. Activity Status: [Ambulatory - Independent|Ambulatory - requires assistance or aid "
    "(walker or cane)|Out of bed with assistance].",
    "[Stable|Good|Fair, improved], [afebrile|hemodynamically stable], [tolerating PO|ambulating], [pain "
    "controlled|voiding].",
]
DC_INSTRUCTIONS = [
    "[Dear Mr./Ms.|Dear patient], it was a pleasure taking care of you [at the hospital|during your stay].",
    "You were admitted [to the hospital|to our service] [for|because of] the problems discussed above.",
    "Please take all of your medications as prescribed[ and bring this list to your next appointment|].",
    "Please [keep|attend] all of your [follow-up appointments|scheduled appointments] listed below.",
    "[Call your doctor|Return to the ED|Seek medical attention] if you [have|experience] [fevers > "
    "101|worsening symptoms|any new or concerning symptoms|trouble breathing].",
    "[Weigh yourself|Check your weight] every morning[, call your doctor if weight goes up by more than 3 "
    "lbs|].",
    "[Do not drive|Avoid driving] while taking [pain medications|sedating medications].",
    "[Continue|Resume] your [regular diet|home diet|prior activity level] [as tolerated|gradually].",
    "[We made the following changes to your medications|Your medications were changed as listed]; [please "
    "review them carefully|the list is attached].",
    "[Drink plenty of fluids|Stay well hydrated][ unless told otherwise by your doctor|].",
    "[While you were here|During your stay], [you were seen by several teams|we did several tests|we "
    "monitored you closely].",
    "[Your primary care doctor|Your PCP] will [review|follow up on] [the results of your tests|pending "
    "results] [at your next visit|after discharge].",
    "[Please do not|Do not] [lift anything heavier than 10 pounds|take baths or swim] [for 2 weeks|until "
    "cleared by your doctor].",
    "[Take|Use] [tylenol|acetaminophen] as needed for pain, [no more than 3 grams per day|up to 3 g daily].",
    "[If you have any questions|For questions about your care], [call the clinic|please call your PCP's "
    "office].",
    "[Bring|Please bring] [this paperwork|your discharge summary|your medication list] to [all "
    "appointments|your next appointment].",
    "[Get up and walk|Walk] [several times a day|every few hours] to [keep your strength up|stay active].",
    "[It is important to|Please] [take your medications at the same time each day|use a pill box to stay "
    "organized].",
    "[We wish you|Wishing you] [all the best|a speedy recovery|the best of health].",
    "[Our team|We] [enjoyed|were glad] [taking care of you|meeting you and your family].",
    "[Avoid|Limit] [alcohol|salty foods|caffeine] [while recovering|until your follow-up visit].",
    "[A nurse|Visiting nurse services] will [visit you at home|call you] [in the next few days|after "
    "discharge].",
    "[Keep|Please keep] a [list|log] of [your symptoms|your blood pressures|your sugars] to [share|review] "
    "with your doctor.",
    "[If you miss a dose|If you forget a dose], [take it when you remember|do not double up on the next "
    "dose].",
    "[Rest|Get plenty of rest] [and gradually increase your activity|as you recover|over the next few days].",
    "[Your follow-up appointments|Appointments] are listed below; [please call if you need to "
    "reschedule|call to confirm the times].",
]

FOLLOWUP = [
    "[PCP|Primary care|Dr. {name}] in [1 week|1-2 weeks|7-10 days|2 weeks][ - appointment scheduled| - pt to "
    "call|].",
    "[Cardiology|Nephrology|Pulmonology|GI|Endocrinology|Oncology|Neurology|Orthopedics] clinic [in 2 "
    "weeks|in 1 month|as scheduled|within 4 weeks].",
    "[Labs|BMP|CBC] [in 1 week|at PCP visit|in 3-5 days][ with results to PCP|].",
]
FOLLOWUP_NAMES = ["Smith", "Patel", "Nguyen", "Garcia", "Cohen", "Okafor", "Kim", "Rossi", "Murphy", "Shah"]

# Sentences that follow a problem in a hospital course; they name no condition, only how care went.
COURSE_FOLLOW_UP = {
    "A": ["[Cultures|Blood cultures] [remained negative|were followed] and abx were [narrowed|tailored] [on "
        "HD3|per sensitivities].", "[Temperature curve|WBC] [trended down|improved] on [abx|antibiotics]."],
    "C": ["[Onc|Oncology] [was updated|saw the patient] and [outpatient plan|next cycle] was "
        "[confirmed|deferred].",
          "[Goals of care|Prognosis] [were|was] discussed with [pt and family|the patient]."],
    "E": ["[Sugars|Glucose levels] were [labile|well controlled] and [insulin|the regimen] was "
        "[titrated|adjusted].",
          "[Lytes|Electrolytes] were [repleted|monitored] and [normalized|stabilized] by discharge."],
    "I": ["[Pt|Patient] was [monitored on tele|on telemetry] [without events|with no arrhythmias].",
          "[Home cardiac meds|Cardiac meds] were [continued|titrated] and [BP|HR] [remained at goal|was "
          "controlled].",
          "[Weight|Volume status] [improved|was optimized] with [diuresis|IV lasix] [over the stay|by HD3]."],
    "J": ["[O2|Oxygen] was [weaned|titrated] to [RA|room air|home O2] [by HD2|by HD3|prior to discharge].",
          "[Nebs|Inhalers] were [continued|spaced] and [work of breathing|breathing] [improved|normalized]."],
    "K": ["Diet was [advanced|slowly advanced] [as tolerated|to regular] [without issues|once symptoms "
        "improved].",
          "[GI|The GI team] [followed|was consulted] and [recommended outpatient f/u|signed off]."],
    "N": ["[Cr|Renal function] [improved|returned toward baseline] [with IVF|after holding offending meds].",
          "[UOP|Urine output] [improved|remained adequate] and [meds were renally dosed|nephrotoxins "
          "avoided]."],
    "S": ["[Ortho|Orthopedics] [followed|saw the patient] and [recommended|cleared for] [WBAT|PT].",
          "[Pain|Discomfort] was [managed|controlled] with [a multimodal regimen|PO meds]."],
}
GENERIC_FOLLOW_UP = [
    "[Pt|Patient] [improved|did well] [clinically|over the stay] and [remained stable|needed no escalation].",
    "[This|The problem] was [monitored|followed] [daily|closely] [without issues|and remained stable].",
    "[Home meds for this were|Home regimen was] continued [without changes|at discharge].",
    "[Outpatient follow-up|Follow-up with PCP] was [arranged|recommended] [for this|for ongoing care].",
]

# --- paraphrase of official descriptions -------------------------------------------------------------

# Clauses dropped from official descriptions (regex, replacement); applied in order, always.
DESCRIPTION_CLEANUP = [
    (r"\s*\[[^\]]*\]", ""),
    (r", or .*$", ""),
    (r"\(s\)", ""),
    (r",? initial encounter for closed fracture", ""),
    (r",? initial encounter for open fracture[^,]*", ", open"),
    (r",? initial encounter", ""),
    (r",? not elsewhere classified", ""),
    (r"\bunspecified\b( part| site| type| organism| cause)?( of)?", ""),
    (r"\(primary\)|\(acute\)|\(nontraumatic\)|\(current\)", ""),
    (r"^other specified |^other ", ""),
]
# Clinician shorthand: (regex on the lower-cased text, replacements, probability of applying).
ABBREVIATIONS = [
    (r"\batherosclerotic heart disease of native coronary artery\b", ["CAD", "coronary artery disease"], 0.9),
    (r"\btype 2 diabetes mellitus\b", ["T2DM", "DM2", "type 2 DM", "diabetes"], 0.85),
    (r"\btype 1 diabetes mellitus\b", ["T1DM", "DM1", "type 1 DM"], 0.85),
    (r"\bdiabetes mellitus\b", ["DM", "diabetes"], 0.8),
    (r"\bchronic kidney disease\b", ["CKD"], 0.8),
    (r"\bend stage renal disease\b", ["ESRD"], 0.9),
    (r"\bacute kidney failure\b", ["AKI", "acute renal failure", "ARF"], 0.85),
    (r"\bchronic obstructive pulmonary disease\b", ["COPD"], 0.9),
    (r"\bcongestive heart failure\b", ["CHF"], 0.9),
    (r"(?<!congestive )\bheart failure\b", ["HF", "CHF", "heart failure"], 0.6),
    (r"\batrial fibrillation\b", ["afib", "AF", "a-fib"], 0.8),
    (r"\batrial flutter\b", ["aflutter", "AFL"], 0.7),
    (r"\bessential hypertension\b|\bhypertension\b", ["HTN"], 0.8),
    (r"\bhyperlipidemia\b", ["HLD"], 0.7),
    (r"\bmyocardial infarction\b", ["MI"], 0.8),
    (r"\bpulmonary embolism\b", ["PE"], 0.8),
    (r"\bdeep vein thrombosis\b|\bthrombosis of deep veins?\b", ["DVT"], 0.8),
    (r"\burinary tract infection\b", ["UTI"], 0.9),
    (r"\bgastro-esophageal reflux disease\b", ["GERD", "reflux"], 0.9),
    (r"\bobstructive sleep apnea\b", ["OSA"], 0.9),
    (r"\bcerebral infarction\b", ["CVA", "stroke", "ischemic stroke"], 0.8),
    (r"\bpneumonia\b", ["PNA", "pneumonia"], 0.5),
    (r"\bsecondary malignant neoplasm of\b", ["mets to", "metastatic disease to"], 0.9),
    (r"\bmalignant neoplasm of\b", ["cancer of", "ca of", "carcinoma of"], 0.9),
    (r"\bbenign neoplasm of\b", ["benign tumor of", "benign lesion of"], 0.8),
    (r"\bneoplasm\b", ["tumor", "mass"], 0.6),
    (r"\bpersonal history of\b", ["h/o", "hx of", "history of"], 0.9),
    (r"\bfamily history of\b", ["FHx of", "family hx of"], 0.7),
    (r"\blong term (?:\(current\) )?use of\b", ["on chronic", "long-term", "chronic use of"], 0.9),
    (r"\bpresence of\b", ["s/p", "status post"], 0.6),
    (r"\bfracture\b", ["fx", "fracture"], 0.7),
    (r"\bleft\b", ["L", "left", "lt"], 0.6),
    (r"\bright\b", ["R", "right", "rt"], 0.6),
    (r"\bbilateral\b", ["b/l", "bilat"], 0.6),
    (r"\blower limb\b|\blower extremity\b", ["LE", "leg"], 0.6),
    (r"\bupper limb\b|\bupper extremity\b", ["UE", "arm"], 0.6),
    (r"\bgastrointestinal\b", ["GI"], 0.8),
    (r"\balcohol\b", ["EtOH", "alcohol"], 0.6),
    (r"\bwithout\b", ["w/o", "without", "no"], 0.4),
    (r"\bwith\b", ["w/", "with"], 0.3),
    (r"\bdisorder\b", ["d/o", "disorder"], 0.3),
    (r"\binfection\b", ["infxn", "infection"], 0.3),
    (r"\bhemorrhage\b", ["bleed", "hemorrhage"], 0.5),
    (r"\babdominal\b", ["abd"], 0.4),
    (r"\bencounter for\b", ["admitted for", "here for"], 0.7),
    (r"\bdisease\b", ["dz", "disease"], 0.2),
]
_CLEANUP_PATTERNS = [(re.compile(p, re.IGNORECASE), r) for p, r in DESCRIPTION_CLEANUP]
_ABBREVIATION_PATTERNS = [(re.compile(p, re.IGNORECASE), reps, prob) for p, reps, prob in ABBREVIATIONS]
# "urticaria due to cold" must not become "cold urticaria due": these words end no reorderable head.
_NO_REORDER_AFTER = ("due", "secondary", "related", "exposure", "contact", "effect", "allergy", "use",
                     "history")


def paraphrase(text: str, rng: random.Random) -> str:
    """One clinician-style rewording of an official description or inclusion term."""
    out = re.sub(r"\s+NOS\b", "", text)
    for pattern, replacement in _CLEANUP_PATTERNS:
        out = pattern.sub(replacement, out)
    # Lower-case everything but acronyms (COPD, HIV), as clinicians type.
    out = " ".join(w if len(w) > 1 and w.isupper() else w.lower() for w in out.split())
    for pattern, replacements, probability in _ABBREVIATION_PATTERNS:
        if rng.random() < probability and pattern.search(out):
            out = pattern.sub(rng.choice(replacements), out)
    if rng.random() < 0.5:
        out = re.sub(r",? (?:without|w/o) [^,]*", "", out)
    out = re.sub(r"\(\s*\)", "", out)
    out = re.sub(r"\s*,(?:\s*,)*", ",", out).replace(",", ", ")
    out = re.sub(r"\s+", " ", out).strip(" ,;-")
    if len(out.split()) > 8 and rng.random() < 0.5:
        # Clinicians drop the qualifiers of long titles: what follows a comma or a second "with".
        out = " ".join(re.split(r" (?=(?:with|w/) )", out.split(",")[0])[:2])
    reorder = re.fullmatch(r"(\S+(?: \S+)?) (?:of|to) (?:the )?([^,]+)", out)
    if (reorder and len(reorder.group(2).split()) <= 3 and not reorder.group(1).endswith(_NO_REORDER_AFTER)
            and rng.random() < 0.5):
        out = f"{reorder.group(2)} {reorder.group(1)}"  # "fx of L femur" -> "L femur fx"
    out = re.sub(r"^(?:of|and|with|w/) ", "", out).strip(" ,;-")
    return out if re.search(r"[A-Za-z]{2}", out) else text.lower()


def age_sex(rng: random.Random, age: int, sex: str) -> str:
    """'67 y/o M', '72yo female', '58-year-old woman' ..."""
    words = SEX_WORDS[sex]
    return rng.choice(AGE_SEX_FORMATS).format(
        age=age, s=sex, sex=rng.choice(words["sex"]), noun=rng.choice(words["noun"])
    )


def vitals(rng: random.Random) -> str:
    """A line of normal vital signs."""
    return expand(rng, VITALS_TEMPLATE).format(
        temp=f"{rng.uniform(97.6, 99.4):.1f}", hr=rng.randint(62, 96), sbp=rng.randint(108, 138),
        dbp=rng.randint(62, 84), rr=rng.randint(12, 18), spo2=rng.randint(95, 99),
    )


def lab_panel(rng: random.Random, lead: str, skip: set[str], keep: float = 0.8) -> str:
    """A line of normal lab values after an expanded `lead`; analytes named in `skip` are left out."""
    style = rng.choice(("{} {}", "{}-{}", "{}: {}"))
    values = [
        style.format(name, f"{rng.uniform(low, high):.{decimals}f}")
        for name, low, high, decimals in LAB_PANEL
        if name.lower() not in skip and rng.random() < keep
    ]
    return expand(rng, lead) + " " + ", ".join(values or ["pending"])


# --- rendering with tagged pieces -----------------------------------------------------------------

# Plain text, or (text, code, kind) with kind "evidence" or a distractor kind: a span the note records.
Piece = str | tuple[str, str, str]


def render(rng: random.Random, template: str, values: dict[str, list[Piece] | str]) -> list[Piece]:
    """Fills a template's slots: string values go in before choices expand, piece lists keep their tags."""
    for name, value in values.items():
        if isinstance(value, str):
            template = template.replace("{" + name + "}", value)
    pieces: list[Piece] = []
    for text, name in slots(template):
        pieces.append(expand(rng, text))
        if name is not None:
            pieces.extend(values[name])  # type: ignore[arg-type]
    if pieces[0] == "" and isinstance(pieces[1], tuple):  # a sentence that opens with a mention
        mention, code, kind = pieces[1]
        pieces[1] = (mention[:1].upper() + mention[1:], code, kind)
    return pieces


def as_list(items: list[list[Piece]]) -> list[Piece]:
    """'a, b and c' as pieces."""
    out: list[Piece] = []
    for i, item in enumerate(items):
        if i:
            out.append(" and " if i == len(items) - 1 else ", ")
        out.extend(item)
    return out


class TemplateCycle:
    """Templates of one kind drawn without repeats until all were used, then reshuffled."""

    def __init__(self, rng: random.Random, templates: list[str]):
        self.rng, self.templates, self.queue = rng, templates, []

    def next(self) -> str:
        if not self.queue:
            self.queue = self.rng.sample(self.templates, len(self.templates))
        return self.queue.pop()


def derived_mentions(code: str, description: str, inclusion_terms: list[str], seed: int) -> list[str]:
    """Up to six distinct clinician wordings of a code without lexicon entry, from its official terms."""
    rng = random.Random(f"{seed}/surface/{code}")
    sources = [description] + inclusion_terms[:3]
    variants: list[str] = []
    for source, _ in itertools.product(sources, range(3)):
        variant = paraphrase(source, rng)
        if variant not in variants:
            variants.append(variant)
    return variants[:6]


def reads_as_bare_condition(mention: str) -> bool:
    """Whether a mention can follow "denies" or "mother with": short, no history, status or qualifiers."""
    return (len(mention.split()) <= 4 and not re.search(r"[,()\d]|\b(?:on|s/p|r/o|2/2|w/)\b", mention)
            and not mention.lower().startswith(HISTORY_PREFIXES))
