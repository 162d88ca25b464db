"""The deployment's clinical settings the core reads (a stdlib view of `cds.config.Settings`)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_FHIR_BASE = "http://calf-cds.example/fhir"


@dataclass(frozen=True)
class Policy:
    """Windows (§2), cut-off defaults (§3, §5), configured codes and the route profile (§6)."""

    fhir_base: str = DEFAULT_FHIR_BASE
    route_profile: str = "default"
    window_symptom_days: float = 14.0
    window_lab_hours: float = 72.0
    window_tsh_days: float = 90.0
    window_abi_days: float = 365.0
    window_chronic_observation_days: float = 365.0
    window_pregnancy_observation_days: float = 274.0
    ck_uln_u_per_l: float = 200.0
    extra_cancer_codes: tuple[str, ...] = ()
    extra_thyroid_codes: tuple[str, ...] = ()
    postpartum_codes: tuple[str, ...] = ()
    ddimer_age_adjust_over_lab_flag: bool = False

    @property
    def base(self) -> str:
        return self.fhir_base.rstrip("/")


DEFAULT_POLICY = Policy()
