r"""Synthetic survey and work-order exports with known truth.

Everything here is SYNTHETIC: no real customer, phone or ID-card number. The
simulator writes the two exports of the input contract (docs/input_contract.md) in the shape
a utility's system produces them (Chinese headers, Chinese labels, two date
styles, personal data in the clear), together with the canonical frames that
ingest must reproduce from them and a ``truth`` dictionary with every number of
the data-generating process (DGP) and the population quantities an analysis is
meant to recover.

Data-generating process
-----------------------
All numbers are fields of :class:`SimParams`; the defaults are given in brackets.
``L = log2(1 + handling_hours)`` throughout.

1. **Population.** Complaint tickets (work orders) are created over
   ``start`` .. ``end`` [2025-01-01 .. 2026-06-30]. The daily volume is
   proportional to ``sum_c cause_share[c] * season[c](month)``, where the
   outage group is multiplied by ``outage_season`` [x1.3 in June and September,
   x1.8 in July and August]; other groups are flat. The work-order population
   is generated in creation order and cut at the ticket of the ``n``-th
   completed survey, so the survey export has exactly ``n`` rows. (The
   population size is chosen so that the cut falls near ``end``; if it falls
   after ``end``, creation times are compressed linearly to end by ``end``.)
2. **Place.** Region (地市) with ``region_share``; station (供电所) within the
   region with weight ``(k + 1) ** -station_size_decay`` for the k-th station
   listed in ``station_areas``. Each station has a random effect
   ``u_station ~ N(0, station_sd)`` [0.3] on the satisfaction latent.
3. **Cause.** ``cause_l1`` given the creation month (shares ``cause_share``
   times the season multiplier, renormalised); ``cause_l2`` within
   ``cause_l1`` with ``subcause_share``. Channel with ``channel_share``.
4. **Customer.** Customer ids (10 digits) come from a pool of
   ``customer_pool_ratio`` x tickets; a share ``follow_up_share`` of tickets
   re-use the customer of a ticket created up to ``follow_up_window_days``
   earlier, so repeat complainers exist, some within 30 days. One mobile
   number ``1[3-9]\d{9}`` per customer.
5. **Handling.** ``hours = exp(log(handling_median_hours[cause_l2]) +
   handling_sigma * z)``, clipped to ``handling_min_hours`` ..
   ``handling_max_hours`` [0.25 h .. 1440 h = 60 days], rounded to whole
   minutes; ``resolved_at = created_at + hours``; ``surveyed_at = resolved_at +
   U{survey_delay_hours}`` [2 .. 96 h, whole minutes].
6. **Repeat calls** ``~ Poisson(exp(repeat_intercept + repeat_cause[cause_l1]
   + repeat_log_hours * L))``.
7. **Resolved** (yes / partly / no) with probabilities ``resolved_probs``
   [by sub-cause; ``resolved_probs_default`` otherwise].
8. **Satisfaction** (the potential answer of EVERY ticket, surveyed or not):
   ``eta = beta_sub[cause_l2] + slope[cause_l1] * L + beta_channel[channel]
   + beta_repeat * (repeat_calls > 0) + beta_resolved[resolved] + u_station``;
   ``latent = eta + Logistic(0, 1)``;
   ``sat_overall = 1 + #{cutpoints < latent}`` (proportional odds). The three
   item scores use the same latent plus item-specific parts and their own
   ``N(0, item_noise_sd)`` noise, cut at the same cutpoints:
   speed ``+ speed_log_hours * (L - speed_ref_log_hours)``; attitude
   ``+ attitude_staff`` when the sub-cause is staff_attitude; outcome
   ``+ outcome_resolved[resolved]``.
9. **Survey response** (missing at random given cause group, handling time and
   region only): ``logit P(completed) = response_intercept +
   response_cause[cause_l1] + response_log_hours * L + response_region[region]``;
   a non-completed ticket is ``refused`` with probability ``refused_share``,
   else ``no_answer``. Slow tickets are less satisfied AND less often
   surveyed, so the naive respondent satisfied rate is biased upward; both it
   and the population rate are in ``truth``.
10. **Answers** of completed surveys: each item is replaced by 拒答 or 不清楚
    (half each) with probability ``missing_overall`` [0.03] for the overall
    item and ``missing_item`` [0.02] for the others.
11. **Comments**: blank with ``comment_blank`` [0.70]; a planted mobile number
    in ``comment_phone`` [0.03] of rows; an 18-digit ID-card number (valid
    GB 11643 check digit, so X occurs) in ``comment_idcard`` [0.01]; else a
    short phrase from a bank (positive phrases when the overall answer is 4 or 5).
12. **Formatting**: every row writes its datetimes in one style chosen at
    random (``date_style_slash`` [0.5]): ``2026-03-01 08:15:00`` or
    ``2026/3/1 8:15``. Ticket ids ``GD<yyyymmdd><5-digit sequence of the day>``.

Hard cases (issue 11; every one off by default)
-----------------------------------------------
Each switch of :class:`SimParams` below is 0 / ``None`` by default, in which case
the output is exactly that of steps 1-12. Switched on, a hard case draws only
from its own side stream ``default_rng([seed, attempt, key])``, so the other
columns keep their draws, and ``truth["hard_cases"]`` records the switches and
what an estimator should recover. ``hard_case_params()`` (CLI ``research
simulate --hard-cases``) turns all of them on at :data:`HARD_CASE_DEFAULTS`.
With any of the first four on, step 8 becomes structural:
``latent0 = base + h(hours) + Logistic`` with ``base = beta_sub + beta_channel
+ u_station (+ station_handling_sat * v_station)`` and ``h = slope * L`` (or the
step), then repeat calls and resolution are drawn given ``latent0``, and
``latent = latent0 + beta_repeat * (repeat > 0) + beta_resolved[resolved]``.
``centre`` is the mean of ``base + h`` over the tickets (``truth["hard_cases"]["latent_centre"]``).

- ``resolution_from_satisfaction`` [0; 0.8 with --hard-cases]: cumulative logit of
  the resolved answer, ``logit P(resolved <= k) = logit(resolved_probs cum_k)
  + a * (latent0 - centre) - b * difficulty``: dissatisfied customers more often
  answer "not resolved", so resolution is partly a consequence of satisfaction.
- ``resolution_from_difficulty`` (``b`` above) [0; 0.8]: a ticket difficulty
  ``d ~ N(0, 1)`` makes up a share ``difficulty_handling_corr`` [0.6] of the
  handling-time normal (``z = rho d + sqrt(1 - rho^2) z'``, marginal unchanged),
  so difficult tickets are slow AND less often resolved.
- ``repeat_from_dissatisfaction`` [0; 0.3]: repeat calls ``~ Poisson(exp(step 6
  - k * (latent0 - centre)))``: dissatisfied customers call again.
- ``station_handling_sd`` [0; 0.4]: station random effect ``v_station ~ N(0, sd)``
  on log handling hours, entering the latent with ``station_handling_sat``
  [-0.5] per unit: slow stations are less satisfied for other reasons too, so
  station confounds handling time.
- ``threshold_step`` [None; capability (96 h, 0.8), voltage (72 h, 0.8)]:
  ``{cause_l1: (hours0, drop)}`` replaces the group's smooth ``slope * L`` by
  ``slope * log2(1 + hours0) - drop * (hours > hours0)``: flat, then a step.
- ``response_from_satisfaction`` [0; 0.25] and ``refusal_from_satisfaction``
  [0; -0.3]: step 9 gains ``+ r * (latent - c)`` on the completion logit and a
  non-completed ticket is refused with ``logit = logit(refused_share) + s *
  (latent - c)``, ``c`` the mean linear predictor (missing not at random;
  refusals and no-answers differ). The population is then drawn in full before
  the cut; not combinable with the ``plant_*`` options.

``truth["hard_cases"]``: ``levers`` (for each cause group, halving its handling
time and bringing every late ticket to its SLA deadline: the population effect on
the satisfied rate as a proportion over all work orders and within the group,
the natural direct effect with the resolution answer drawn as under the
factual hours, and the share through resolution; from the simulator's potential
outcomes, :func:`potential_satisfied`, averaged over each ticket's noise, with
everything that precedes handling held as drawn), ``thresholds`` (hours, latent
drop, the satisfied rate just below and just above the step and their
difference), ``smooth_slopes`` (groups without a step), ``station_handling``,
``resolution`` and ``repeat`` (rates by satisfaction), ``response`` (population
vs respondents' satisfied rate; rates by survey status; completion by satisfaction).

Planted faults
--------------
With ``faults = f`` about ``round(f * n)`` faults are planted in the survey
export, spread round-robin over :data:`FAULT_REASONS`, each on distinct rows
(see :func:`simulate`). ``truth["planted_faults"]`` lists ``ticket_id``,
1-based ``source_row`` and ``reason`` of every rejected row. The canonical
``responses`` frame holds exactly the rows ingest must accept.

Chunked exports
---------------
A national-scale export (tens of millions of surveys) is written in chunks with memory bounded by one
chunk: :mod:`research.simulate.chunks` (``write_chunked``, ``simulate_chunk``; CLI ``research simulate
--chunk-rows R``). Each chunk is this DGP over the whole period with its own seed from (seed, chunk),
the station effects shared by every chunk, and ticket and customer ids unique across chunks.

Public API: :class:`SimParams`, :class:`Simulation`, :func:`simulate`,
:func:`write_simulation`, :func:`hard_case_params`, :data:`HARD_CASE_DEFAULTS`,
:func:`potential_satisfied`.

"""

from __future__ import annotations

from research.simulate.params import (FAULT_REASONS, HARD_CASE_DEFAULTS, MISSING_LABELS, RESOLVED_CODES,
                                      SAT_ITEMS, STATUS_CODES, SURVEY_HEADERS, WORKORDER_HEADERS,
                                      hard_case_params, SimParams, Simulation)
from research.simulate.run import simulate, write_simulation
from research.simulate.structural import _p_satisfied, _params_from_truth, potential_satisfied

__all__ = ['SimParams', 'Simulation', 'simulate', 'write_simulation', 'hard_case_params',
           'HARD_CASE_DEFAULTS', 'potential_satisfied', 'SURVEY_HEADERS', 'WORKORDER_HEADERS',
           'FAULT_REASONS', 'SAT_ITEMS', 'STATUS_CODES', 'RESOLVED_CODES', 'MISSING_LABELS']
