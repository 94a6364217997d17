"""The study's own experiments (``python -m benchmark study <name> submission=<dir>``), one module each.

``STUDIES`` maps a study's name to its one-line help and its function ``(Context) -> dict``; the
function writes ``<output_dir>/<name>.json`` and its picture(s) (:mod:`benchmark.studies.context`).
Options: ``studies.*`` (:class:`benchmark.core.config.StudiesConfig`).
"""

from __future__ import annotations

from typing import Callable

from benchmark.studies import angles, attributes, colour, hair
from benchmark.studies.context import Context, study_context

__all__ = ["STUDIES", "Context", "study_context"]

#: study -> (one-line help, function taking the study's context and returning its json payload)
STUDIES: dict[str, tuple[str, Callable[[Context], dict]]] = {
    "angles": ("similarity and EER of the trial renders over a grid of azimuth and elevation", angles.run),
    "colour": ("photo2mri: grey renders, colour renders and grey photographs", colour.run),
    "hair": ("photo2mri with the photographs' hair kept and removed (attack.photo_hair)", hair.run),
    "attributes": ("age, sex and ancestry read from photographs against from MRI renders", attributes.run),
}
