"""One row of `make bench`'s table, and the table.

Each benchmark module has `summary(result) -> list[Row]`, reading the JSON it wrote to bench/results/; bench/run.py
gathers the rows of every benchmark that has results into one table (printed, and written to
bench/results/latest.md). A row is a workload, its figure, the ceiling or peer measured in the same run, the ratio,
and the target from issue 15 with whether it is met and, if not, by how much it is missed.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """A target for a figure: at least (or at most) `value`, in the row's own unit (a ratio, messages/s, ms…)."""

    text: str
    value: float
    at_most: bool = False

    def verdict(self, figure: float | None) -> str:
        if figure is None:
            return f"{self.text}: not measured"
        met = figure <= self.value if self.at_most else figure >= self.value
        if met:
            return f"{self.text}: met"
        if self.at_most:
            return f"{self.text}: missed ({figure / self.value:.1f} × the limit)"
        return f"{self.text}: missed ({figure / self.value:.2f} of it)" if self.value else f"{self.text}: missed"


@dataclass(frozen=True)
class Row:
    workload: str
    size: str
    figure: str
    against: str = ""  # the ceiling or peer measured in the same run, as text
    ratio: str = ""
    target: Target | None = None
    measured: float | None = None  # the number the target is checked against

    @property
    def verdict(self) -> str:
        return self.target.verdict(self.measured) if self.target else ""


def table(rows: list[Row]) -> str:
    lines = [
        "| workload | size | figure | ceiling or peer (same run) | ratio | target |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    lines += [f"| {r.workload} | {r.size} | {r.figure} | {r.against} | {r.ratio} | {r.verdict} |" for r in rows]
    return "\n".join(lines) + "\n"
