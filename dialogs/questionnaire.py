"""The health declaration, defined once as data.

Each question's `key` names the answer in storage, its prompt (`q.<key>`), its label in
the review (`label.<key>`) and its parser; the order of QUESTIONS is the order asked.
Reordering, adding or dropping a question touches this tuple and the catalogs only: the
asking, the review, the edit menu, the typed storage columns and the locale test all read
it. Bump VERSION when the meaning of an answer changes; it is saved with every declaration.

Answers are JSON values: language-neutral codes for choices ("yes", "quit", "A"), numbers
in fixed units (cm, kg), ISO dates, the person's own words for free text, None for a
skipped optional question.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from dialogs import parsers
from dialogs.core import Msg, button_forms
from dialogs.naming import age_on, who
from dialogs.parsers import Invalid
from dialogs.ports import Person
from dialogs.text import answers, pick

VERSION = "2021.1"

FROM_REGISTRY = "=registry"  # a choice meaning "what the registry says"


@dataclass(frozen=True)
class Facts:
    """What a question may depend on: the person, the answers before it, today."""

    person: Person  # as in the registry
    answers: Mapping[str, Any]
    today: date
    station: str = ""

    @property
    def subject(self) -> Person:
        """The person with any corrections they made applied."""
        a = self.answers
        born = a.get("birth_date")
        return replace(
            self.person,
            full_name=a.get("full_name") or self.person.full_name,
            birth_date=date.fromisoformat(born) if born else self.person.birth_date,
            sex=a.get("sex") or self.person.sex,
        )

    @property
    def age(self) -> int:
        return age_on(self.subject, self.today)

    @property
    def sex(self) -> str | None:
        return self.subject.sex

    def who(self) -> Msg:
        return who(self.subject, self.today)


def always(facts: Facts) -> bool:
    return True


@dataclass(frozen=True)
class Choice:
    value: Any
    label: str  # message id of the button
    also: tuple[str, ...] = ()  # what people type instead, folded ("ko", "vang")
    when: Callable[[Facts], bool] = always


@dataclass(frozen=True)
class Stored:
    """A typed column of `declarations` that an answer fills. The table (storage/models.py),
    the saving (storage/declarations.py) and the export (storage/export.py) all read these
    declarations, so adding one here adds the column everywhere (plus a migration)."""

    name: str  # column name; its export header is the message export.col.<name>
    kind: str  # "decimal(P,S)" or "smallint"
    derive: Callable[[Any, Mapping[str, Any]], Any]  # (answer, all answers) -> value or None


def _same(v: Any, answers: Mapping[str, Any]) -> Any:
    return v


@dataclass(frozen=True)
class Question:
    key: str
    parse: Callable[[str], Any] | None = None  # typed answers; raises Invalid
    choices: tuple[Choice, ...] = ()
    optional: bool = False  # may end up skipped ("Bỏ qua" after three failed tries)
    ask_if: Callable[[Facts], bool] = always
    check: Callable[[Any, Facts], None] | None = None  # against other facts; raises Invalid
    unusual: Callable[[Any, Facts], tuple[str, dict] | None] | None = None  # confirm once
    stored: tuple[Stored, ...] = ()  # typed storage (and export) columns, see Stored
    show: Callable[[Any, str], Any] | None = None  # value -> text or Msg, for the review
    after: Callable[[Any, Facts], list[tuple[str, dict]]] | None = None  # told after answering
    prompt_vars: Callable[[Facts], dict[str, Any]] | None = None
    multi: bool = False  # several choices toggled, then "Xong"
    contact: bool = False  # offer "share my number" when declaring for oneself
    per_row: int = 2
    registry: str | None = None  # the registry fact this answer restates (one export column)
    exported: bool = True  # False: a step of the dialog, not a fact (the identity check)

    def choices_in(self, values: list) -> list:
        """The chosen values in the questionnaire's order (stable for storage and review)."""
        return [c.value for c in self.choices if c.value in values]


# ---------------------------------------------------------------- formatting


def num(x: float, locale: str) -> str:
    """65.5 -> '65,5' in Vietnamese; whole numbers without decimals."""
    text = f"{x:.1f}".rstrip("0").rstrip(".")
    return text.replace(".", ",") if locale == "vi" else text


def dmy(iso: str) -> str:
    d = date.fromisoformat(iso)
    return f"{d.day:02d}/{d.month:02d}/{d.year}"


def joined(items: list[Any], sep: str = "decl.join_comma") -> Any:
    """Several texts/Msgs as one Msg (the renderer fills nested messages)."""
    if not items:
        return ""
    out = items[-1]
    for item in reversed(items[:-1]):
        out = Msg(sep, {"head": item, "tail": out})
    return out


def label_of(q: Question, value: Any) -> str | None:
    for c in q.choices:
        if c.value == value:
            return c.label
    return None


def show(q: Question, value: Any, locale: str) -> Any:
    if value is None:
        return Msg("decl.v.skipped")
    if q.show is not None:
        return q.show(value, locale)
    if q.multi:
        return joined([Msg(label_of(q, v) or str(v)) for v in value]) if value else Msg("opt.no_conditions")
    label = label_of(q, value)
    return Msg(label) if label else str(value)


# ---------------------------------------------------------------- understanding answers


def offered(q: Question, facts: Facts) -> list[Choice]:
    return [c for c in q.choices if c.when(facts)]


def forms(c: Choice) -> frozenset[str]:
    """What may be typed for a choice: its label in every language, and its synonyms."""
    found = _FORMS.get((c.label, c.also))
    if found is None:
        found = _FORMS[(c.label, c.also)] = button_forms(c.label) | answers(c.also)
    return found


_FORMS: dict[tuple[str, tuple[str, ...]], frozenset[str]] = {}

# Words that may stand beside a button's text at one question without changing which
# button is meant ("nhóm máu A", "không có thẻ BHYT", "đã về hưu rồi"), beside the
# everyday ones of `dialogs.text.AROUND`. Never a negation.
AROUND: dict[str, frozenset[str]] = {k: frozenset(v.split()) for k, v in {
    "identity": "thong tin dung het ca ten ho ngay sinh gioi tinh nam",
    "sex": "gioi tinh nguoi",
    "address": "dia chi o nhu tren so",
    "occupation": "lam nghe nghiep o di",
    "ethnicity": "dan toc nguoi",
    "blood_group": "nhom mau loai type group",
    "insurance": "the bhyt bao hiem y te so",
    "blood_pressure": "do huyet ap",
    "smoking": "hut thuoc la nua lau",
    "conditions": "benh gi man tinh bi mac",
    "allergies": "di ung gi bi",
    "covid_doses": "mui tiem vac xin covid lieu",
    "epi_complete": "tiem mui vac xin chuong trinh mo rong",
    "flu_shot": "tiem vac xin cum mui nam",
}.items()}


def match(q: Question, text: str, facts: Facts) -> Choice | None:
    """The one offered choice the answer means (see `dialogs.text.pick`), if any."""
    return pick(text[:200], [(c, forms(c)) for c in offered(q, facts)], AROUND.get(q.key, frozenset()))


def interpret(q: Question, text: str, facts: Facts) -> Any:
    """A typed or pressed answer -> the value to store. Raises only Invalid."""
    c = match(q, text, facts)
    if c is not None:
        value = c.value
        if value == FROM_REGISTRY:
            value = getattr(facts.person, q.key)
    elif q.parse is not None:
        value = q.parse(text)
    else:
        raise Invalid("err.answer_choose", example="")
    if q.check is not None:
        q.check(value, facts)
    return value


# ---------------------------------------------------------------- checks and notes


def _bmi_of(height: Any, weight: Any) -> float | None:
    if isinstance(height, int | float) and isinstance(weight, int | float):
        return parsers.bmi(height, weight)
    return None


def _odd_bmi(value: float | None) -> tuple[str, dict] | None:
    if value is not None and not 13 <= value <= 60:
        return "decl.sure_bmi", {"bmi": value}
    return None


def _tell_bmi(weight: float, facts: Facts) -> list[tuple[str, dict]]:
    value = _bmi_of(facts.answers.get("height"), weight)
    if value is None:
        return []
    if facts.age < 18:  # the adult cut-offs do not apply; children are read by BMI-for-age
        return [("decl.bmi_child", {"bmi": value})]
    return [("decl.bmi", {"bmi": value, "category": Msg("bmi." + parsers.bmi_category(value))})]


def _tell_bp(value: Any, facts: Facts) -> list[tuple[str, dict]]:
    if value == "unknown":
        return [("decl.bp_measure", {})]
    if value[0] >= 180 or value[1] >= 120:
        return [("decl.bp_high", {})]
    return []


def _odd_children(children: Any, pregnancies: Any) -> tuple[str, dict] | None:
    if isinstance(children, int) and isinstance(pregnancies, int) and children > pregnancies:
        return "decl.sure_children", {"children": children, "pregnancies": pregnancies}
    return None


def _birth_in_range(iso: str, facts: Facts) -> None:
    d = date.fromisoformat(iso)
    if d > facts.today or facts.today.year - d.year > 120:
        raise Invalid("err.birth_date_range", example="05/03/1950")


def _conditions(text: str) -> list[str]:
    """Typed instead of pressed: 'tiểu đường, huyết áp' -> ['diabetes', 'htn']."""
    parts = [p.strip() for p in re.split(r"[,;+\n]| và | va | and | với | voi ", text[:300].lower()) if p.strip()]
    found: list[str] = []
    for p in parts:
        c = pick(p, [(c, forms(c)) for c in CONDITIONS], AROUND["conditions"])
        if c is None:
            raise Invalid("err.conditions", example="")
        if c.value not in found:
            found.append(c.value)
    if not found:
        raise Invalid("err.conditions", example="")
    return [c.value for c in CONDITIONS if c.value in found]  # questionnaire order


def _ethnicity(text: str) -> str:
    """A group typed by name; the groups with their own button store that button's value."""
    name = parsers.ethnicity(text)
    return _BUTTON_GROUPS.get(name, name)


def _female_15(f: Facts) -> bool:
    return f.sex == "F" and f.age >= 15


def _fixing(f: Facts) -> bool:
    return f.answers.get("identity") == "fix"


def _identity_vars(f: Facts) -> dict[str, Any]:
    p = f.person
    born = dmy(p.birth_date.isoformat()) if p.birth_date else str(p.birth_year)
    sex = {"M": "opt.male", "F": "opt.female"}.get(p.sex or "", "opt.sex_unknown")
    return {"name": p.full_name, "birth": born, "sex": Msg(sex)}


def _address_vars(f: Facts) -> dict[str, Any]:
    a = f.person.address
    return {"registry": Msg("decl.registry_address", {"address": a}) if a else ""}


def _has_registry_address(f: Facts) -> bool:
    return bool(f.person.address)


UNKNOWN = Choice("unknown", "opt.unknown", ("khong biet", "chua biet", "chua do", "khong ro", "khong nho", "quen roi",
                                            "chua do bao gio", "chua bao gio do"))
CORRECT = ("dung", "dung roi", "chinh xac", "phai", "co", "u", "vang", "da", "ok", "yes", "y", "right")
STILL_THERE = ("nhu cu", "van o", "van o do", "o do", "cho cu", "nha cu", "van o cho cu", "van o day", "van vay", "khong doi", "van the", "nhu trong so", "dia chi cu")

CONDITIONS = (
    Choice("htn", "cond.htn", ("huyet ap", "huyet ap cao", "cao huyet ap", "tang huyet ap", "hypertension")),
    Choice("diabetes", "cond.diabetes", ("tieu duong", "dai thao duong", "duong huyet", "diabetes")),
    Choice("heart", "cond.heart", ("tim", "benh tim", "tim mach", "heart")),
    Choice("lung", "cond.lung", ("hen", "hen suyen", "suyen", "copd", "phoi", "asthma", "hen copd")),
    Choice("cancer", "cond.cancer", ("ung thu", "cancer", "benh k")),
    Choice("other", "cond.other", ("khac", "benh khac", "other")),
)


def _cm(v: float, loc: str) -> Msg:
    return Msg("decl.v.cm", {"n": num(v, loc)})


def _kg(v: float, loc: str) -> Msg:
    return Msg("decl.v.kg", {"n": num(v, loc)})


def _bp(v: Any, loc: str) -> Any:
    return Msg("opt.unknown") if v == "unknown" else Msg("decl.v.bp", {"sys": v[0], "dia": v[1]})


def _bp_part(i: int) -> Callable[[Any, Mapping[str, Any]], Any]:
    return lambda v, answers: v[i] if isinstance(v, list | tuple) else None  # None: "unknown"


def _bmi_column(weight: Any, answers: Mapping[str, Any]) -> float | None:
    return _bmi_of(answers.get("height"), weight)


# ---------------------------------------------------------------- the questionnaire

QUESTIONS: tuple[Question, ...] = (
    # Personal details
    Question(
        "identity",
        choices=(Choice("ok", "opt.correct", CORRECT), Choice("fix", "opt.fix", ("sua", "sai", "khong dung", "chua dung", "khong", "no", "n", "khong phai", "can sua", "sai roi"))),
        prompt_vars=_identity_vars,
        show=lambda v, loc: Msg("opt.correct" if v == "ok" else "decl.v.corrected"),
        exported=False,
    ),
    Question("full_name", parse=parsers.full_name, ask_if=_fixing, registry="full_name"),
    Question(
        "birth_date",
        parse=lambda t: parsers.birth_date(t).isoformat(),
        ask_if=_fixing,
        check=_birth_in_range,
        show=lambda v, loc: dmy(v),
        registry="birth_date",
    ),
    Question(
        "sex",
        choices=(Choice("M", "opt.male", ("nam", "trai", "male", "m", "nam gioi", "dan ong", "con trai")), Choice("F", "opt.female", ("nu", "gai", "female", "f", "nu gioi", "dan ba", "phu nu", "con gai"))),
        ask_if=lambda f: _fixing(f) or f.person.sex is None,
        registry="sex",
    ),
    Question("phone", parse=parsers.phone, contact=True, show=lambda v, loc: parsers.show_phone(v), registry="phone"),
    Question(
        "address",
        parse=parsers.address,
        choices=(Choice(FROM_REGISTRY, "opt.correct", CORRECT + STILL_THERE, when=_has_registry_address),),
        prompt_vars=_address_vars,
        per_row=1,
        registry="address",
    ),
    Question(
        "occupation",
        parse=parsers.occupation,
        ask_if=lambda f: f.age >= 15,
        choices=(
            Choice("retired", "opt.retired", ("huu", "nghi huu", "ve huu", "da nghi huu", "huu tri", "can bo huu tri",
                                              "nghi huu tri", "ve huu roi", "an luong huu", "luong huu")),
            Choice("homemaker", "opt.homemaker", ("noi tro", "o nha", "lam noi tro", "o nha noi tro", "lam viec nha")),
            Choice("trader", "opt.trader", ("buon ban", "ban hang", "kinh doanh", "tieu thuong", "ban buon", "ban le",
                                            "ban tap hoa", "buon ban nho")),
            Choice("worker", "opt.worker", ("cong nhan",)),
            Choice("office", "opt.office", ("van phong", "nhan vien", "cong chuc", "vien chuc", "nhan vien van phong")),
            Choice("student", "opt.student", ("hoc sinh", "sinh vien", "di hoc", "dang di hoc", "dang hoc")),
        ),
    ),
    Question(
        "ethnicity",
        parse=lambda t: _ethnicity(t),
        optional=True,
        choices=(
            Choice("kinh", "opt.kinh"),
            Choice("hoa", "opt.hoa", ("nguoi hoa",)),
            Choice("khmer", "opt.khmer", ("kho me", "khome", "khomer")),
            Choice("cham", "opt.cham", ("cham",)),
            Choice("other", "opt.other", ("khac", "dan toc khac", "other")),
        ),
        per_row=3,
    ),
    Question(
        "blood_group",
        parse=parsers.blood_group,
        choices=(Choice("A", "opt.a"), Choice("B", "opt.b"), Choice("AB", "opt.ab"), Choice("O", "opt.o", ("0",)), UNKNOWN),
        per_row=4,
    ),
    Question(
        "insurance",
        parse=parsers.insurance,
        optional=True,
        ask_if=lambda f: not f.person.insurance_code,
        choices=(Choice("none", "opt.no_card", ("khong co", "khong co the", "chua co", "chua co the", "khong", "chua",
                                                "khong co bhyt", "chua lam the", "khong co bao hiem", "none")),),
        per_row=1,
        registry="insurance_code",
    ),
    # Health status
    Question(
        "height",
        parse=parsers.height,
        unusual=lambda v, f: _odd_bmi(_bmi_of(v, f.answers.get("weight"))),
        stored=(Stored("height_cm", "decimal(5,1)", _same),),
        show=_cm,
    ),
    Question(
        "weight",
        parse=parsers.weight,
        unusual=lambda v, f: _odd_bmi(_bmi_of(f.answers.get("height"), v)),
        stored=(Stored("weight_kg", "decimal(5,1)", _same), Stored("bmi", "decimal(4,1)", _bmi_column)),
        show=_kg,
        after=_tell_bmi,
    ),
    Question(
        "blood_pressure",
        parse=lambda t: list(parsers.blood_pressure(t)),
        choices=(UNKNOWN,),
        ask_if=lambda f: f.age >= 15,  # not measured routinely in children
        stored=(Stored("systolic", "smallint", _bp_part(0)), Stored("diastolic", "smallint", _bp_part(1))),
        show=_bp,
        after=_tell_bp,
        per_row=1,
    ),
    Question(
        "smoking",
        choices=(
            Choice("no", "btn.no", ("khong hut", "chua hut", "chua bao gio hut", "khong bao gio hut", "khong hut thuoc")),
            Choice("yes", "btn.yes", ("co hut", "hut", "van hut", "dang hut", "hut thuoc", "co hut thuoc")),
            Choice("quit", "opt.quit", ("da bo", "bo roi", "bo", "da cai", "cai roi", "quit", "bo thuoc", "cai thuoc",
                                        "da bo thuoc", "khong con hut", "khong hut nua", "nghi hut", "bo hut")),
        ),
        ask_if=lambda f: f.age >= 15,
        per_row=3,
    ),
    Question("conditions", parse=_conditions, choices=CONDITIONS, multi=True),
    Question("allergies", parse=parsers.allergy, choices=(Choice("none", "btn.no", ("khong co", "khong bi", "khong di ung", "khong di ung gi", "chua bi", "chua thay", "none")),), per_row=1),
    Question(
        "pregnancies",
        parse=parsers.count,
        ask_if=_female_15,
        unusual=lambda v, f: _odd_children(f.answers.get("children"), v),
        stored=(Stored("pregnancies", "smallint", _same),),
    ),
    Question(
        "children",
        parse=parsers.count,
        ask_if=_female_15,
        unusual=lambda v, f: _odd_children(v, f.answers.get("pregnancies")),
        stored=(Stored("children", "smallint", _same),),
    ),
    Question(
        "covid_doses",
        # 4 stands for "4 or more"; more than 6 doses is not plausible (asked again, not capped)
        parse=lambda t: min(parsers.count(t, hi=6), 4),
        choices=tuple(Choice(n, f"opt.d{n}") for n in range(5)),
        stored=(Stored("covid_doses", "smallint", _same),),
        per_row=5,
    ),
    Question(
        "epi_complete",
        choices=(
            Choice("yes", "btn.yes", ("du", "da du", "du roi", "tiem du", "da tiem du", "tiem du roi")),
            Choice("partial", "opt.partial", ("chua du", "chua", "thieu", "con thieu", "chua tiem du", "tiem chua du")),
            Choice("unknown", "opt.unsure", ("khong ro", "khong biet", "khong nho", "quen roi")),
        ),
        ask_if=lambda f: f.age < 6,
        per_row=1,
    ),
    Question(
        "flu_shot",
        choices=(
            Choice("yes", "btn.yes", ("co tiem", "da tiem", "tiem roi", "co tiem roi")),
            Choice("no", "btn.no", ("khong tiem", "chua tiem", "chua tiem cum")),
            Choice("unknown", "opt.not_remember", ("khong nho", "quen", "quen roi", "khong biet", "khong ro")),
        ),
        ask_if=lambda f: f.age >= 60,
        per_row=1,
    ),
)

# "Không có" on the chronic-conditions question: nothing to toggle.
NO_CONDITIONS = Choice([], "opt.no_conditions", ("khong", "khong co", "khong benh", "khong co benh", "none", "chua co",
                                                  "khong bi", "khoe manh", "khoe", "no"))

# The groups with their own button store that button's value when typed by name.
_BUTTON_GROUPS = {"Kinh": "kinh", "Hoa": "hoa", "Khơ-me": "khmer", "Chăm": "cham"}

BY_KEY: dict[str, Question] = {q.key: q for q in QUESTIONS}


# ---------------------------------------------------------------- walking the tuple


def walk(person: Person, answers: Mapping[str, Any], today: date, station: str = "") -> Iterator[tuple[Question, Facts]]:
    """The questions that apply, in order, each with the answers before it. An answer to a
    question that no longer applies (sex corrected, say) is ignored from then on."""
    kept: dict[str, Any] = {}
    for q in QUESTIONS:
        facts = Facts(person, dict(kept), today, station)
        if q.ask_if(facts):
            yield q, facts
            if q.key in answers:
                kept[q.key] = answers[q.key]


def live(person: Person, answers: Mapping[str, Any], today: date) -> dict[str, Any]:
    """The answers that count: those of questions that apply, in questionnaire order."""
    return {q.key: answers[q.key] for q, _ in walk(person, answers, today) if q.key in answers}


def facts_for(key: str, person: Person, answers: Mapping[str, Any], today: date, station: str = "") -> Facts | None:
    for q, facts in walk(person, answers, today, station):
        if q.key == key:
            return facts
    return None


def next_key(person: Person, answers: Mapping[str, Any], today: date, after: str | None = None) -> str | None:
    """The question after `after` (or the first), whether answered before or not."""
    keys = [q.key for q, _ in walk(person, answers, today)]
    if after is None:
        return keys[0] if keys else None
    if after in keys:
        i = keys.index(after) + 1
        return keys[i] if i < len(keys) else None
    order = [q.key for q in QUESTIONS]  # `after` no longer applies: continue from its place
    pos = order.index(after) if after in order else -1
    return next((k for k in keys if order.index(k) > pos), None)


def first_unanswered(person: Person, answers: Mapping[str, Any], today: date) -> str | None:
    return next((q.key for q, _ in walk(person, answers, today) if q.key not in answers), None)


STORED: tuple[Stored, ...] = tuple(c for q in QUESTIONS for c in q.stored)


def stored_values(q: Question, value: Any, answers: Mapping[str, Any]) -> dict[str, Any]:
    """One question's typed columns for its answer (those it cannot fill left out)."""
    if value is None:
        return {}
    out = {c.name: c.derive(value, answers) for c in q.stored}
    return {k: v for k, v in out.items() if v is not None}


def typed_columns(answers: Mapping[str, Any]) -> dict[str, Any]:
    """The typed storage columns of (live) answers, as the questions declare them."""
    out: dict[str, Any] = {}
    for key, value in answers.items():
        q = BY_KEY.get(key)
        if q is not None:
            out.update(stored_values(q, value, answers))
    return out
