"""The dashboard's charts as AppTest sees them: every chart dashboard/chart.py drew, in page order."""

from __future__ import annotations

import json
from dataclasses import dataclass

from dashboard.chart import NAME


@dataclass(frozen=True)
class Chart:
    key: str
    spec: str  # the figure, as compact JSON text

    @property
    def figure(self) -> dict:
        return json.loads(self.spec)


def charts(at) -> list[Chart]:
    """(key, figure) of each chart on the page AppTest ran."""
    out = []
    for el in at.get("bidi_component"):
        if el.proto.component_name == NAME:
            data = json.loads(el.proto.json or el.proto.mixed.json)
            fig = data["figure"]  # JSON text (chart.show), parsed by the browser
            out.append(Chart(el.key, json.dumps(json.loads(fig) if isinstance(fig, str) else fig,
                                                separators=(",", ":"))))
    return out
