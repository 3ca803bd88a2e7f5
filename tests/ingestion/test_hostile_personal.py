"""Hostile input, issue 10 point 4: personal data never leaves ingest in clear.

Phone and ID-card numbers typed anywhere (comment, station, region, channel,
in full-width digits, after letters, in any grouping) are masked; dates,
amounts, meter readings and ticket ids are not; and an ingest run with such
values planted writes and prints none of them, nor any customer id.
"""

from __future__ import annotations

import json
import unicodedata

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import research.ingestion.pseudonymise as pseudo
from conftest import valid_survey, workorders_for, write_csv
from research.cli import main
from research.ingestion.pseudonymise import mask_series, mask_text

# ---------------------------------------------------------------------------
# Generators of personal numbers, as typed
# ---------------------------------------------------------------------------

FULL_WIDTH = {c: chr(ord(c) + 0xFEE0) for c in map(chr, range(0x21, 0x7F))} | {" ": "\u3000"}


def full_width(text: str) -> str:
    """ASCII letters, digits, brackets, signs and spaces as their full-width forms."""
    return "".join(FULL_WIDTH.get(c, c) for c in text)


digit = st.sampled_from("0123456789")


@st.composite
def digits(draw, n: int) -> str:
    return "".join(draw(st.lists(digit, min_size=n, max_size=n)))


month_day = st.builds(lambda m, d: f"{m:02d}{d:02d}", st.integers(1, 12), st.integers(1, 28))


@st.composite
def id_number(draw) -> tuple[str, str]:
    """(number as typed, its digits): 18 digits (last may be X/x) or 15, maybe grouped 6-8-4."""
    region = draw(st.sampled_from("12345678")) + draw(digits(5))
    if draw(st.booleans()):  # second generation, 18
        birth = f"{draw(st.integers(1930, 2010))}{draw(month_day)}"
        seq = draw(digits(3))
        check = draw(st.sampled_from("0123456789Xx"))
        core = region + birth + seq
        sep = draw(st.sampled_from(["", "", " ", "-"]))
        return region + sep + birth + sep + seq + check, core + (check if check.isdigit() else "")
    birth = f"{draw(st.integers(30, 99)):02d}{draw(month_day)}"
    number = region + birth + draw(digits(3))  # first generation, 15
    return number, number


@st.composite
def mobile(draw) -> tuple[str, str]:
    """(number as typed, its 11 digits): any grouping with single spaces/dashes, optional +86."""
    number = "1" + draw(st.sampled_from("3456789")) + draw(digits(9))
    typed = number[0]
    for d in number[1:]:
        typed += draw(st.sampled_from(["", "", "", " ", "-", "\u2013"])) + d
    style = draw(st.sampled_from(["", "plain", "3-4-4 space", "3-4-4 dash"]))
    if style == "plain":
        typed = number
    elif style.startswith("3-4-4"):
        s = " " if "space" in style else "-"
        typed = number[:3] + s + number[3:7] + s + number[7:]
    prefix = draw(st.sampled_from(["", "", "+86", "+86 ", "+86-", "0086", "0086-", "86", "(+86)"]))
    return prefix + typed, number


@st.composite
def landline(draw) -> tuple[str, str]:
    """(number as typed, its digits): 0 + 2-3 digit area code, 7-8 digit local number."""
    area = "0" + draw(st.sampled_from("123456789")) + draw(digits(1))
    if draw(st.booleans()):
        area += draw(digit)
        local = draw(st.sampled_from("2345678")) + draw(digits(draw(st.sampled_from([6, 7]))))
    else:
        local = draw(st.sampled_from("2345678")) + draw(digits(7))
    style = draw(st.sampled_from(["dash", "space", "paren", "paren space", "cjk paren", "run",
                                  "grouped"]))
    typed = {
        "dash": f"{area}-{local}",
        "space": f"{area} {local}",
        "paren": f"({area}){local}",
        "paren space": f"({area}) {local}",
        "cjk paren": f"（{area}）{local}",
        "run": area + local,
        "grouped": f"{area}-{local[:-4]}-{local[-4:]}",
    }[style]
    return typed, area + local


PREFIXES = ["", "ID", "id:", "身份证号码", "身份证", "Tel", "电话：", "联系人张三", "手机号是 ", "请打",
            "station A ", "户主"]
SUFFIXES = ["", "请回电", "，谢谢", " thanks", "号", "。", " ok", "联系我"]


def surviving_windows(masked: str, number_digits: str, width: int = 7) -> list[str]:
    """Runs of ``width`` consecutive digits of the number still readable in the masked text."""
    shown = "".join(c for c in unicodedata.normalize("NFKC", masked) if c.isdigit())
    return [number_digits[i:i + width] for i in range(len(number_digits) - width + 1)
            if number_digits[i:i + width] in shown]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(number=st.one_of(id_number(), mobile(), landline()), wide=st.booleans(),
       prefix=st.sampled_from(PREFIXES), suffix=st.sampled_from(SUFFIXES))
def test_no_seven_digit_run_of_a_personal_number_survives(number, wide, prefix, suffix):
    typed, number_digits = number
    text = prefix + (full_width(typed) if wide else typed) + suffix
    masked = mask_text(text)
    assert not surviving_windows(masked, number_digits), (text, masked)
    assert any(m in masked for m in ("[PHONE]", "[IDCARD]", "[NUMBER]"))


@settings(max_examples=100, deadline=None)
@given(texts=st.lists(st.one_of(st.none(), st.text(max_size=12),
                                id_number().map(lambda t: "身份证" + t[0]),
                                mobile().map(lambda t: "电话" + t[0]),
                                landline().map(lambda t: full_width(t[0]))), max_size=12))
def test_mask_series_agrees_with_mask_text(texts):
    out = mask_series(pd.Series(texts, dtype="string"))
    for given_text, got in zip(texts, out.tolist()):
        if given_text is None:
            assert got is pd.NA
        else:
            assert got == mask_text(given_text)


# ---------------------------------------------------------------------------
# The cases named in the review, one by one
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("１３９１２３４５６７８", "[PHONE]"),  # full-width mobile
    ("手机１３９ １２３４ ５６７８", "手机[PHONE]"),
    ("ID110101199003071234", "ID[IDCARD]"),  # directly after letters
    ("身份证号码110101199003071234", "身份证号码[IDCARD]"),  # directly after CJK text
    ("身份证号码１１０１０１１９９００３０７１２３Ｘ请核实", "身份证号码[IDCARD]请核实"),
    ("旧证110101900307123", "旧证[IDCARD]"),  # 15 digits, first generation
    ("身份证 110101 19900307 1234", "身份证 [IDCARD]"),
    ("020 12345678", "[PHONE]"),
    ("(020)12345678", "[PHONE]"),
    ("（020）12345678", "[PHONE]"),
    ("075512345678", "[PHONE]"),
    ("020-1234-5678", "[PHONE]"),
    ("139 1234 5678", "[PHONE]"),
    ("139-1234-5678", "[PHONE]"),
    ("+86 139 1234 5678", "[PHONE]"),
    ("0086-13912345678", "[PHONE]"),
    ("+86-20-12345678", "[PHONE]"),
    ("卡号6222021234567890123", "卡号[NUMBER]"),  # a long digit run is masked whole
    ("电话13912345678,身份证110101199003071234,座机020-12345678",
     "电话[PHONE],身份证[IDCARD],座机[PHONE]"),
    # only the number is replaced: full-width punctuation and letters around it stay as typed
    ("电话１３９１２３４５６７８，谢谢ＯＫ", "电话[PHONE]，谢谢ＯＫ"),
    ("⑬912345678", "[PHONE]"),  # an enclosed number NFKC turns into two digits
])
def test_reviewed_personal_formats_are_masked(text, expected):
    assert mask_text(text) == expected


@pytest.mark.parametrize("text", [
    "2026-03-01 08:15:00",  # date-time
    "2026/3/1 8:15",
    "20260301",  # compact date
    "20260301081500",  # compact date-time, 14 digits
    "２０２６年３月１日",  # full-width date, nothing to mask: returned as given
    "1234.56元",  # amount
    "电费 12345.67 元，欠费 0.5 元",
    "电表读数 12345678",  # meter reading, 8 digits
    "表号 01234567",  # 8 digits starting with 0
    "GD2025010100002",  # ticket id: letters + 13 digits
    "工单GD2025010100002已办结",
    "GD0755123456789",  # ticket id whose digits start like a landline
    "营业时间 09:00-12:00, 0800-1200",
    "停电3小时，110千伏线路",
    "站１供电所",  # full-width station name, nothing to mask
    "",
])
def test_non_personal_text_survives_unchanged(text):
    assert mask_text(text) == text


def test_missing_values_pass_through():
    assert mask_text(None) is None and mask_text(pd.NA) is pd.NA
    out = mask_series(pd.Series([None, "电话13912345678", pd.NA], dtype="string"),
                      also=[(pd.Series([None, None, "x"], dtype="string"), "[CUSTOMER]")])
    assert out.isna().tolist() == [True, False, True] and out.iloc[1] == "电话[PHONE]"


def test_row_own_customer_id_is_masked_in_a_station_name():
    stations = pd.Series(["站3000000007供电所", "站1供电所", "站3000000007供电所"], dtype="string")
    ids = pd.Series(["3000000007", "3000000007", "3000000008"], dtype="string")
    out = mask_series(stations, also=[(ids, "[CUSTOMER]")])
    # only row 0 holds its own id; row 2's station names another customer (10 digits: kept)
    assert out.tolist() == ["站[CUSTOMER]供电所", "站1供电所", "站3000000007供电所"]


def test_full_width_own_customer_id_is_masked():
    out = mask_series(pd.Series(["户号３０００００００１２不对"], dtype="string"),
                      also=[(pd.Series([" 3000000012 "], dtype="string"), "[CUSTOMER]")])
    assert out.iloc[0] == "户号[CUSTOMER]不对"


def test_each_distinct_text_is_masked_once(monkeypatch):
    calls = []
    real, real_many = pseudo._masked, pseudo._masked_many

    def counting(text, *args):
        calls.append(text)
        return real(text, *args)

    def counting_many(texts, normals):  # the texts masked in one scan
        calls.extend(texts)
        return real_many(texts, normals)

    monkeypatch.setattr(pseudo, "_masked", counting)
    monkeypatch.setattr(pseudo, "_masked_many", counting_many)
    stations = pd.Series(["张三13912345678"] * 5000 + ["李四02012345678"] * 5000 + ["站1"] * 5000,
                         dtype="string")
    ids = pd.Series([f"{3000000000 + i}" for i in range(15000)], dtype="string")
    out = mask_series(stations, also=[(ids, "[CUSTOMER]")])
    assert sorted(calls) == ["张三13912345678", "李四02012345678"]  # "站1" never reaches Python
    assert set(out) == {"张三[PHONE]", "李四[PHONE]", "站1"}


# ---------------------------------------------------------------------------
# Ingest end to end: planted numbers reach no output and no message
# ---------------------------------------------------------------------------

PLANTED = {
    "station_phone": "13987654321",
    "region_id": "110101199003071234",
    "region_fullwidth_phone": "13712345678",
    "channel_phone": "13611112222",
    "comment_landline": "020-87654321",
    "comment_id15": "110101900307123",
    "rejected_station_landline": "0755-88889999",
    "cause_id": "44010319800101123X",
    "conflict_station_phone": "15899990000",
    "duplicate_comment_phone": "158 0000 1111",
    "wo_region_phone": "13500001111",
}


def hostile_exports(tmp_path):
    """A survey and a work-order export with phone and ID numbers planted in free-text,
    name and label fields, on accepted rows, rejected rows and duplicate rows."""
    sv = valid_survey(30)
    p = PLANTED
    sv.loc[1, "供电所"] = f"张三{p['station_phone']}"  # accepted
    sv.loc[2, "地市"] = f"广州ID{p['region_id']}"  # accepted
    sv.loc[3, "地市"] = "佛山" + full_width(p["region_fullwidth_phone"])  # accepted
    sv.loc[6, "受理渠道"] = p["channel_phone"]  # rejected: unknown_label, quoted in detail
    sv.loc[7, "受理时间"] = "2025-13-45 10:00:00"  # rejected for another reason...
    sv.loc[7, "供电所"] = f"李四{p['rejected_station_landline']}"  # ...with numbers in raw values
    area, local = p["comment_landline"].split("-")
    sv.loc[7, "客户意见"] = f"座机({area}){local}，旧证{p['comment_id15']}"
    sv.loc[10, "供电所"] = "站" + sv.loc[10, "客户编号"] + "供电所"  # the row's own customer id
    sv.loc[11, "诉求大类"] = f"身份证{p['cause_id']}"  # rejected: unknown_label
    sv.loc[12, "客户意见"] = f"电话 {p['duplicate_comment_phone']}"
    sv.loc[13, "客户编号"] = ""  # rejected: missing customer id, still no clear id anywhere
    conflict = sv.loc[[8]].assign(供电所=f"王五{p['conflict_station_phone']}")
    copy = sv.loc[[12]]
    survey = pd.concat([sv, conflict, copy], ignore_index=True)
    wo = workorders_for(sv)
    wo.loc[4, "地市"] = f"佛山{p['wo_region_phone']}"
    write_csv(survey, tmp_path / "survey.csv")
    write_csv(wo, tmp_path / "wo.csv", "gb18030")
    return survey, wo


def secrets_of(survey: pd.DataFrame, wo: pd.DataFrame) -> set[str]:
    """Every string that must not appear in an output or message."""
    numbers = {v.replace(" ", "").replace("-", "") for v in PLANTED.values()}
    numbers |= set(PLANTED.values())
    numbers |= {full_width(v) for v in numbers}
    ids = {v for v in pd.concat([survey["客户编号"], wo["客户编号"]]) if v}
    phones = {v for v in pd.concat([survey["联系电话"], wo["联系电话"]]) if v}
    comment_phones = {f"{13800000000 + i}" for i in range(30)}
    return numbers | ids | phones | comment_phones


def test_ingest_leaks_no_planted_number_nor_customer_id(tmp_path, capsys):
    survey, wo = hostile_exports(tmp_path)
    out = tmp_path / "out"
    code = main(["ingest", str(tmp_path / "survey.csv"), "--workorders", str(tmp_path / "wo.csv"),
                 "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    secrets = secrets_of(survey, wo)
    windows = {n[i:i + 7] for n in (v.replace(" ", "").replace("-", "") for v in PLANTED.values())
               for i in range(len(n) - 6)}
    texts = {"stdout": printed.out, "stderr": printed.err}
    for path in sorted(out.iterdir()):
        data = path.read_bytes()
        assert not [s for s in secrets if s.encode("utf-8") in data], path.name
        if path.suffix == ".parquet":
            texts[path.name] = pd.read_parquet(path).astype(str).to_csv()
        else:
            texts[path.name] = data.decode("utf-8-sig")
    assert set(texts) == {"stdout", "stderr", "responses.parquet", "workorders.parquet",
                          "rejected.csv", "ingest_report.json"}
    for name, text in texts.items():
        assert not [s for s in secrets if s in text], f"{name} leaks a planted value"
        assert not [w for w in windows if w in text], f"{name} leaks 7 digits of a planted number"

    # and the masks are where the numbers were
    responses = pd.read_parquet(out / "responses.parquet").set_index("source_row")
    assert responses.loc[2, "station"] == "张三[PHONE]"
    assert responses.loc[3, "region"] == "广州ID[IDCARD]"
    assert responses.loc[4, "region"] == "佛山[PHONE]"
    assert responses.loc[11, "station"] == "站[CUSTOMER]供电所"
    workorders = pd.read_parquet(out / "workorders.parquet").set_index("source_row")
    assert workorders.loc[5, "region"] == "佛山[PHONE]"
    rejected = pd.read_csv(out / "rejected.csv", dtype=str, encoding="utf-8-sig",
                           keep_default_na=False)
    survey_rej = rejected[rejected["file"] == "survey"].set_index("source_row")
    assert "'[PHONE]'" in survey_rej.loc["7", "detail"]  # the channel value, quoted masked
    assert survey_rej.loc["7", "channel"] == "[PHONE]"
    assert survey_rej.loc["8", "station"] == "李四[PHONE]"
    assert survey_rej.loc["8", "comment"] == "座机[PHONE]，旧证[IDCARD]"
    assert "[IDCARD]" in survey_rej.loc["12", "cause_l1"]
    assert "[IDCARD]" in survey_rej.loc["12", "detail"]
    assert survey_rej.loc["14", "customer_id"] == ""  # blank stays blank (no pseudonym of nothing)
    # the conflicting duplicate keeps its ticket id (traceable) but not the planted phone
    conflict = survey_rej.loc["31"]
    assert conflict["reason"] == "conflicting_duplicate"
    assert conflict["ticket_id"] == survey.loc[30, "工单编号"] and conflict["station"] == "王五[PHONE]"
    copy = survey_rej.loc["32"]
    assert copy["reason"] == "duplicate" and copy["comment"] == "电话 [PHONE]"
    assert "phone" not in rejected.columns
    report = json.loads((out / "ingest_report.json").read_text(encoding="utf-8"))
    assert report["reconciled"] and report["rows_read"] == len(survey) + len(wo)


def test_rejected_detail_quotes_pseudonym_not_customer_id(tmp_path, instrument):
    """A fault on a personal column quotes the pseudonym (customer id) or the mask (phone)."""
    from research.ingestion.run import _rejected_frame, _check
    from research.ingestion.readers import read_export

    survey = valid_survey(4)
    write_csv(survey, tmp_path / "s.csv")
    checked = _check(read_export(tmp_path / "s.csv"), "survey", instrument)
    fault = checked.faults["invalid_count"].copy()
    fault[0] = True
    checked.faults["invalid_count"] = fault
    checked.details += [("invalid_count", "customer_id", fault), ("invalid_count", "phone", fault)]
    rej = _rejected_frame(checked, "survey", instrument, b"unit-test-key-0123456789abcdef",
                          instrument.fields["survey"])
    detail = rej.loc[0, "detail"]
    assert survey.loc[0, "客户编号"] not in detail and survey.loc[0, "联系电话"] not in detail
    assert rej.loc[0, "customer_id"] in detail and "'[PHONE]'" in detail
