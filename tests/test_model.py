"""Model properties: causality, the KV cache, the activation cache and configs."""

from __future__ import annotations

import math

import pytest
import torch

from llmcore.model.caches import ActivationCache, KVCache
from llmcore.model.config import GPTConfig
from llmcore.model.gpt import GPT


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=3, n_head=2, n_embd=32)).eval()


def test_causality(model):
    x = torch.randint(0, 50, (2, 12))
    y = x.clone()
    y[:, 8:] = (y[:, 8:] + 7) % 50
    with torch.no_grad():
        a, _ = model(x)
        b, _ = model(y)
    torch.testing.assert_close(a[:, :8], b[:, :8])
    assert not torch.allclose(a[:, 8:], b[:, 8:])


def test_kv_cache_matches_full_forward(model):
    x = torch.randint(0, 50, (1, 10))
    with torch.no_grad():
        full, _ = model(x)
        cache = KVCache(model.config.n_layer)
        first, _ = model(x[:, :6], cache=cache)
        steps = [model(x[:, i:i + 1], cache=cache)[0] for i in range(6, 10)]
    torch.testing.assert_close(torch.cat([first] + steps, dim=1), full, atol=1e-5, rtol=1e-4)
    assert cache.length == 10


def test_capture_reproduces_logits_and_shapes(model):
    x = torch.randint(0, 50, (2, 7))
    act = ActivationCache()
    with torch.no_grad():
        plain, _ = model(x)
        captured, _ = model(x, capture=act)
        torch.testing.assert_close(captured, plain, atol=1e-5, rtol=1e-4)  # capturing changes nothing
        torch.testing.assert_close(model.lm_head(act["ln_f"]), plain, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(model.decode_residual(act["blocks.2.resid_post"]), plain, atol=1e-5, rtol=1e-4)
    stack, labels = act.residual_stack()
    assert stack.shape == (3 + 2, 2, 7, 32) and act["blocks.1.attn.q"].shape == (2, 7, 32)
    assert labels == ["embed", "block 1", "block 2", "block 3", "final"]  # the names the shipped maps are stored by
    torch.testing.assert_close(stack[2], act["blocks.1.resid_post"])
    pattern = act.attention_stack()
    assert pattern.shape == (3, 2, 2, 7, 7)
    torch.testing.assert_close(pattern.sum(-1), torch.ones(3, 2, 2, 7))
    assert torch.all(pattern.triu(diagonal=1) == 0)


def test_context_limit(model):
    with pytest.raises(ValueError, match="exceeds block_size"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_config_from_dict_rejects_unknown_keys():
    cfg = GPTConfig(n_layer=2)
    assert GPTConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown keys"):
        GPTConfig.from_dict({**cfg.to_dict(), "n_layers": 3})
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=30, n_head=4)


@pytest.mark.parametrize("bias", [True, False])
def test_parameter_shapes_match_the_built_model(bias):
    """The shapes the checkpoint loader checks a weights file against, without building a model, are the model's."""
    config = GPTConfig(vocab_size=37, block_size=9, n_layer=3, n_head=2, n_embd=12, bias=bias)
    built = {k: tuple(v.shape) for k, v in GPT(config).state_dict().items() if k != "lm_head.weight"}
    assert config.parameter_shapes() == built
    assert sum(math.prod(s) for s in built.values()) == config.param_count()
