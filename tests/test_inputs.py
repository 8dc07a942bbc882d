"""The shared checks that every config and array dataclass goes through: ranges beside their fields (`bounded`)
and dimensions named once (`Shaped`)."""

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from llmcore.inputs import InputError, Shaped, bounded, check_bounded
from llmcore.model.config import GPTConfig
from llmcore.training.config import TrainConfig


@dataclass
class _Pair(Shaped):
    words: list[str]
    ids: np.ndarray
    extra: np.ndarray
    SHAPES: ClassVar = {"words": ("N",), "ids": ("N", "k"), "extra": ("N", 2, ...)}


def test_shaped_binds_each_dimension_once_and_names_the_field_that_disagrees() -> None:
    _Pair(["a", "b"], np.zeros((2, 5)), np.zeros((2, 2, 7, 3)))
    with pytest.raises(ValueError, match=r"_Pair.ids has N = 3, but 2"):
        _Pair(["a", "b"], np.zeros((3, 5)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"_Pair.extra has 2 = 3"):
        _Pair(["a", "b"], np.zeros((2, 5)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"_Pair.ids must have 2 dimensions"):
        _Pair(["a", "b"], np.zeros((2, 5, 1)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"_Pair.extra must have 2\+ dimensions"):
        _Pair(["a", "b"], np.zeros((2, 5)), np.zeros((2,)))


@dataclass
class _Knobs:
    count: int = bounded(3, 1, 10)
    rate: float = bounded(0.5, 0.0, 1.0)

    def __post_init__(self) -> None:
        check_bounded(self)


@pytest.mark.parametrize(("kwargs", "rule"), [({"count": 0}, "count must be a whole number from 1 to 10"),
                                              ({"count": 2.5}, "count must be a whole number"),
                                              ({"count": True}, "count must be a whole number"),
                                              ({"rate": float("nan")}, "rate must be a number from 0 to 1"),
                                              ({"rate": "0.5"}, "rate must be a number")])
def test_bounded_fields_are_checked_with_one_message_naming_the_field(kwargs: dict, rule: str) -> None:
    with pytest.raises(InputError, match=rule):
        _Knobs(**kwargs)


def test_bounded_normalises_numbers_and_both_configs_use_it() -> None:
    assert type(_Knobs(count=np.int64(4)).count) is int and type(_Knobs(rate=1).rate) is float
    with pytest.raises(InputError, match="n_layer must be a whole number from 1 to 48"):
        GPTConfig(n_layer=49)
    with pytest.raises(InputError, match="steps must be a whole number from 1 to 10,000,000"):
        TrainConfig(steps=0)
