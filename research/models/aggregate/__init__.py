"""The plan's models fitted from sums an engine computes (issue 15): :func:`fit_model_on`.

- :mod:`.cells`: a design as groups times a numeric basis (what makes sums exact);
- :mod:`.algebra`: group sums -> cross-products, scores, cluster totals;
- :mod:`.families`, :mod:`.ordinal`: OLS, logit, mixed, proportional-odds from sums;
- :mod:`.fit`: one plan model through an engine, as :func:`research.models.fit.fit_model`.
"""

from research.models.aggregate.fit import fit_model_on  # noqa: F401
