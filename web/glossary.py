"""The glossary page: every figure the pages show, in a commissioner's words.

Each entry has an anchor (the pages link to `/glossary#<anchor>` from a figure's label), the
term, what it is, and where it comes from (the methodology section, for those who want it).
The explanations follow what the code computes: market/viability.py (classes, cross-subsidy,
break-even fees), market/cost_of_care.py (the cost of a contact hour), optimizer/coverage.py
(met and unmet hours, travel).
"""

from __future__ import annotations

from typing import NamedTuple


class Term(NamedTuple):
    anchor: str
    term: str
    text: str
    source: str = ""


SECTIONS: tuple[tuple[str, tuple[Term, ...]], ...] = (
    ("Home care: demand, reach and travel", (
        Term("demand", "Demand (contact hours a week)",
             "The hours of home care a week the people of a zone need from an agency: imported, "
             "or estimated from the number of people aged 65-74, 75-84 and 85+ times a rate per "
             "age band.", "methodology s2; parameters demand_rate_*"),
        Term("rurality", "Rurality",
             "How rural a zone is, in four classes from the ONS Rural-Urban Classification: "
             "urban, town, village and sparse. It sets the time between visits in a care "
             "worker's run and groups the figures on the Overview and Coverage pages.",
             "methodology s2"),
        Term("in-reach", "Agencies in reach",
             "The agencies (and, when added, candidate sites) within the longest one-way trip "
             "of a zone, by the imported travel-time matrix where it has the pair, else by an "
             "estimate from the straight-line distance. A zone with none in reach cannot have "
             "any of its demand met.", "methodology s3"),
        Term("met-hours", "Met hours",
             "Contact hours a week the model assigns to agencies in reach, within their "
             "capacity. The model first meets as much demand as it can, then keeps travel as "
             "low as possible.", "methodology s3"),
        Term("unmet-hours", "Unmet hours and care gaps",
             "Demand that no agency in reach has the capacity to meet. A care gap is a zone with "
             "unmet hours; the care gaps table lists them, largest first.", "methodology s3"),
        Term("coverage", "Demand met (coverage)",
             "Met hours as a share of all demand: 100% means every hour of care needed can be "
             "delivered by an agency in reach.", "methodology s3"),
        Term("travel-per-hour", "Travel minutes per contact hour",
             "The care worker's driving time that each hour of care costs: the trip out and back "
             "shared over the visits in a run, plus the hops between visits. Rural zones need "
             "more.", "methodology s3-s4"),
        Term("utilisation", "Utilisation",
             "The share of an agency's weekly capacity used by the contact hours and the travel "
             "the model gives it.", "methodology s3"),
        Term("variant", "Standard and fair (Advanced)",
             "How the model shares unmet hours when capacity is short. Standard meets the most "
             "hours in all; fair first makes the worst share of demand left unmet in any zone "
             "as small as it can, then meets the most hours.", "methodology s3"),
    )),
    ("Home care: what an hour costs", (
        Term("cost-of-care", "Cost of care per contact hour",
             "What an agency must charge for an hour of care to pay the care worker for the "
             "hour and the travel it needs, their on-costs (employer's National Insurance, "
             "pension, holiday), mileage, the agency's overheads and a reasonable surplus. It "
             "rises with the travel minutes per contact hour.", "methodology s4"),
        Term("surplus-line", "Surplus (return on operations)",
             "The margin a home-care agency needs on its costs to stay in business, a fixed "
             "share of them. In an agency's viability it plays the part a care home's capital "
             "cost plays.", "methodology s4"),
        Term("la-rate", "LA rate",
             "The hourly rate the council pays for home care, as imported: a rate for the zone "
             "(such as a rural uplift) when there is one, else the general rate.", ""),
        Term("gap", "Gap (cost above the LA rate)",
             "How far the cost of a contact hour in a zone is above the LA rate; zero where the "
             "rate pays the cost.", "methodology s4"),
        Term("rural-uplift", "Rural uplift rate and LA uplift",
             "The hourly rate that would pay the cost of care in a zone, and what paying it "
             "for every hour met would add to the council's spend a week and a year.",
             "methodology s4"),
    )),
    ("Care homes and market equalisation", (
        Term("beds", "Care homes and beds",
             "Registered care homes and their beds, as imported (CQC or the council's own "
             "list).", ""),
        Term("self-funders", "Self-funders",
             "Residents (or home-care clients) who pay for their own care. They usually pay "
             "more than the council's rate for the same care.", "methodology s5"),
        Term("classes", "Sustainable, at risk, unviable",
             "A home is sustainable when its income covers its operating costs and the return "
             "its buildings need (the capital cost); at risk when it covers operating costs "
             "only; unviable when it does not even cover them. Home-care agencies are judged "
             "the same way per contact hour, with the surplus line in place of capital.",
             "methodology s5"),
        Term("margin", "Margin (EBITDARM margin)",
             "Income less operating costs, as a share of income: what is left to pay rent, "
             "capital and profit.", "methodology s5"),
        Term("take-up", "Take-up",
             "The share of self-funders who ask the council to arrange their care at its rate "
             "(Care Act s18(3)); they then pay the LA fee instead of the self-funder fee.",
             "methodology s5"),
        Term("convergence", "Convergence",
             "How far self-funder fees fall toward the LA fee for the self-funders who still "
             "pay their own: 0 leaves them as they are, 100% makes them equal to the LA fee.",
             "methodology s5"),
        Term("cross-subsidy", "Cross-subsidy",
             "What self-funders pay above the LA fee, over a year: for each home, resident "
             "weeks x the share of residents paying their own fee x (self-funder fee - LA "
             "fee). It is the part of a home's income that the council's rate does not pay.",
             "methodology s5; market/viability.py"),
        Term("cross-subsidy-lost", "Cross-subsidy lost, and why a higher LA fee raises it",
             "The cross-subsidy before the scenario less the cross-subsidy after it. Take-up "
             "and convergence lower it by moving self-funders to the LA fee. A higher LA fee "
             "raises it too, though no home is worse off for it: the model keeps each "
             "self-funder fee where it was (it can only fall under convergence, and never below "
             "the LA fee), so when the LA fee rises the gap between the two fees narrows, and "
             "the premium self-funders pay above the LA fee shrinks. That premium is what the "
             "model counts as cross-subsidy, so more of it is 'lost'. The home's income does "
             "not fall: its self-funders pay the same, and the council pays more for its "
             "residents; the council now pays what self-funders used to cover. For example, "
             "with a self-funder fee of £1,100 and an LA fee of £850 a week, each self-funder "
             "pays £250 of cross-subsidy; raise the LA fee by 10% to £935 and the premium is "
             "£165, so £85 a week per self-funder is 'lost', while the home gains £85 a week "
             "for each council-funded resident and its self-funders pay what they did. With "
             "the LA fee at or above a home's self-funder fee there is no cross-subsidy left "
             "to lose.",
             "methodology s5; market/viability.py evaluate(): cross_subsidy = resident weeks x "
             "s' x (F_sf' - F_la'), F_la' = F_la (1 + la_fee_change), F_sf' = max(F_sf - "
             "convergence (F_sf - F_la'), F_la')"),
        Term("break-even-fee", "Break-even LA fee and uplift",
             "The LA fee a week at which a home would just cover its operating and capital "
             "costs under the scenario, with self-funder fees following it as the scenario's "
             "convergence says; the uplift is how far it is above the fee paid now.",
             "methodology s5, s7"),
        Term("extra-la-spend", "Extra LA spend to break even",
             "What paying every home its break-even fee (where that is above its fee) would "
             "cost a year, for the residents placed at the LA rate.", "methodology s5"),
        Term("tipping", "Tipping point",
             "The value of a lever (such as take-up) at which a home moves from sustainable to "
             "at risk, or from at risk to unviable, with the other levers held. The homes that "
             "tip first are those with the lowest tipping points.", "market/scenarios.py"),
        Term("monte-carlo", "Monte Carlo interval",
             "Take-up is uncertain, so the model draws it thousands of times from a "
             "distribution and reports the median and the range holding 90% of the draws of "
             "beds at risk or unviable.", "methodology s6"),
    )),
    ("Runs and data", (
        Term("run", "Run",
             "One calculation of a model on the data as it stood, kept with its levers, who "
             "ran it and when, so the figures can be found again (a link such as "
             "/coverage?run=12).", ""),
        Term("stale", "Current and out-of-date runs",
             "A page that reads a run (the zone and provider pages) says when the data has "
             "changed since the run: its figures are then from before the change.", ""),
        Term("freshness", "How fresh the data is",
             "When each kind of data was last imported; the Overview lists them.", ""),
        Term("inputs-hash", "Inputs (under Details)",
             "A fingerprint of the market data a run read: two runs with the same fingerprint "
             "read exactly the same data.", ""),
        Term("solver", "Solver (Advanced)",
             "The program that solves the coverage model (CBC or HiGHS). The answer does not "
             "depend on it; large models are faster with HiGHS.", ""),
        Term("schedule", "Schedule",
             "When a report runs by itself, such as every Monday at 06:00 (stored as a cron "
             "line, shown in words).", ""),
    )),
)

ANCHORS = {t.anchor for _, terms in SECTIONS for t in terms}


def glossary() -> dict[str, object]:
    """The glossary page's sections and terms."""
    return {"sections": [{"title": title, "terms": [t._asdict() for t in terms]}
                         for title, terms in SECTIONS]}
