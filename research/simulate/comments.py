"""Comments that carry the complaint (DGP step 11b; off by default): planted sub-cause phrases.

With ``SimParams.comment_cause_share = s > 0``, a dissatisfied answer's phrase comment (overall
answer below 4, comment drawn from the phrase bank in step 11) also names its sub-cause with
probability ``s``: one of that sub-cause's phrases in :data:`CAUSE_PHRASES`, appended after a
Chinese comma. With ``comment_cause_noise = e > 0`` every phrase comment, satisfied or not, is
given the phrase of a uniformly drawn sub-cause with probability ``e`` (words that occur whatever
the satisfaction: noise the typical-case analysis must not pick up). Comments holding planted
personal data are left as they are.

The draws come from their own generator, seeded by ``(seed, 14)``: every other column of the
exports, and every draw of the default DGP, is the same with the phrases on or off.

``truth["comment_terms"]``: per cause group, the key terms of its sub-causes' phrases (what a
method comparing dissatisfied with satisfied comments of that group should find); each term is
a word of the segmentation dictionary (``surveys/terms.txt`` names those that are domain terms).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from research.simulate.draws import _STR

#: sub-cause -> (phrases, key terms each phrase holds); the key terms are what the recovery test
#: looks for, so each is a word of its own in the segmentation (see surveys/terms.txt)
CAUSE_PHRASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "expansion_delay": (("报装手续拖了一个多月", "报装一直办不下来"), ("报装",)),
    "staff_attitude": (("营业员态度恶劣", "说话态度恶劣还推诿"), ("态度恶劣",)),
    "meter_quality": (("电表箱装得歪歪扭扭", "电表箱门都关不上"), ("电表箱",)),
    "meter_replacement_notice": (("换表没有提前通知", "突然换表也不打招呼"), ("换表",)),
    "billing_dispute": (("电费收得不合理", "这个月电费莫名其妙翻倍"), ("电费",)),
    "metering_billing_error": (("抄表读数有差错", "抄表员估抄读数"), ("抄表",)),
    "no_follow_up": (("打了几次电话没人回访", "答应回访后来没消息"), ("回访",)),
    "fault_outage": (("隔三差五就跳闸", "一打雷就跳闸"), ("跳闸",)),
    "planned_outage_deviation": (("说好的复电时间没兑现", "复电比公告晚了半天"), ("复电",)),
    "arrears_disconnection": (("交了钱还是欠费停电", "欠费停电后迟迟不送电"), ("欠费停电",)),
    "slow_repair": (("抢修的人半天才到", "抢修拖到第二天"), ("抢修",)),
    "maintenance_outage_frequency": (("检修停电一个月好几次", "又是检修停电"), ("检修停电",)),
    "inspection_hazard": (("线路隐患没人管", "隐患报了很久没处理"), ("隐患",)),
    "property_damage": (("拉线把墙拉裂了", "拉线压坏了屋檐"), ("拉线",)),
    "construction_site": (("施工垃圾堆在门口", "施工坑没填好"), ("施工",)),
    "low_voltage": (("低电压空调开不了", "晚上低电压灯都不亮"), ("低电压",)),
    "voltage_fluctuation": (("电压忽高忽低烧了电器", "电压忽高忽低灯一直闪"), ("忽高忽低",)),
}

_SEED_STREAM = 14  # the child stream of the comment phrases: (seed, 14)


def comment_terms(l1_codes: list[str], l2_by_l1: list[list[str]]) -> dict[str, list[str]]:
    """Cause group -> the sorted key terms of its sub-causes' planted phrases."""
    return {g: sorted({t for c in subs if c in CAUSE_PHRASES for t in CAUSE_PHRASES[c][1]})
            for g, subs in zip(l1_codes, l2_by_l1)}


def plant_cause_phrases(seed: int, p, ct: dict[str, Any], tk: dict[str, Any], rest: dict[str, Any]
                        ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``rest`` with its phrase comments given planted sub-cause phrases, and the truth entry.

    Parameters
    ----------
    seed : the simulation's seed (the phrases draw from ``default_rng([seed, 14])``).
    p : SimParams (``comment_cause_share``, ``comment_cause_noise``).
    ct, tk : the code tables and tickets of the simulation (``l2_codes``; ``l2``, ``rows``, ``sat``).
    rest : the survey answers of :func:`research.simulate.exports._survey_answers`
        (``comment_raw``, ``comment_masked``: one per survey row).

    Returns
    -------
    (rest, truth): ``rest`` unchanged and None when both shares are 0.
    """
    share, noise = float(p.comment_cause_share), float(p.comment_cause_noise)
    if share == 0 and noise == 0:
        return rest, None
    rng = np.random.default_rng([int(seed), _SEED_STREAM])
    raw = np.array(rest["comment_raw"].to_pylist(), dtype=object)
    masked = np.array(rest["comment_masked"].to_pylist(), dtype=object)
    n = len(raw)
    phrase_row = (raw == masked) & (raw != "")  # bank phrases; planted personal data differ once masked
    sat = tk["sat"]["sat_overall"][tk["rows"]]
    l2_codes = ct["l2_codes"]
    own = np.array([l2_codes[i] for i in tk["l2"][tk["rows"]]], dtype=object)
    planted = rng.random(n) < share
    noisy = rng.random(n) < noise
    other = rng.integers(0, len(l2_codes), n)
    variant = rng.integers(0, 2, n)
    for i in np.flatnonzero(phrase_row & ((planted & (sat < 4)) | noisy)):
        code = own[i] if planted[i] and sat[i] < 4 else l2_codes[other[i]]
        phrases = CAUSE_PHRASES.get(code)
        if phrases is None:
            continue
        text = f"{raw[i]}，{phrases[0][variant[i] % len(phrases[0])]}"
        raw[i] = masked[i] = text
    rest = {**rest, "comment_raw": pa.array(raw, type=_STR),
            "comment_masked": pa.array(masked, type=_STR)}
    truth = {"share": share, "noise": noise, "terms": comment_terms(ct["l1_codes"], ct["l2_by_l1"])}
    return rest, truth
