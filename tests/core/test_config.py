"""FlowConfig refuses bad values at construction, with a message naming the field."""

import pytest

import iresnet_core as ic


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(coeff=0.0), "coeff"),
        (dict(coeff=-0.5), "coeff"),
        (dict(coeff=1.0), "< 1"),
        (dict(coeff=float("nan")), "coeff"),
        (dict(n_terms=0), "n_terms"),
        (dict(n_blocks=0), "n_blocks"),
        (dict(hidden=()), "hidden"),
        (dict(hidden=(0, 4)), "hidden"),
        (dict(activation="relu"), "activation"),
        (dict(logdet="magic"), "logdet"),
        (dict(n_probes=0), "n_probes"),
        (dict(probe="uniform"), "probe"),
        (dict(model="realnvp"), "model"),
        (dict(model="glow", scale_map="exp"), "scale_map"),
        (dict(model="glow", glow_activation="tanh"), "glow_activation"),
    ],
)
def test_bad_config_is_refused(kwargs, word):
    with pytest.raises(ValueError, match=word.replace("(", r"\(")):
        ic.FlowConfig(**kwargs)


def test_negative_learning_rate_is_refused():
    flow = ic.build_flow(ic.FlowConfig(n_blocks=1, hidden=(8,)))
    data = ic.datasets.sample("moons", 100, 0)
    for lr in (-1e-3, 0.0, float("inf")):
        with pytest.raises(ValueError, match="learning rate"):
            ic.Trainer(flow, data, lr=lr)


def test_round_trip_through_dict():
    cfg = ic.FlowConfig(hidden=(16, 8), coeff=None, logdet="roulette", seed=3)
    assert ic.FlowConfig.from_dict(cfg.to_dict()) == cfg


def test_unknown_fields_are_named():
    with pytest.raises(ValueError, match="bogus"):
        ic.FlowConfig.from_dict({"bogus": 1})


def test_unconstrained_glow_may_have_any_coeff():
    assert ic.FlowConfig(model="glow", coeff=None).constrained is False


def test_a_glow_saved_before_glows_code_forms_keeps_its_own():
    """Checkpoints written before Glow's couplings took Glow's code's sigmoid scale and ReLU
    conditioner hold weights for the earlier tanh scale and ELU: read without the fields, they
    keep them; new ones say theirs."""
    new = ic.match_glow(ic.FlowConfig())
    assert (new.scale_map, new.glow_activation) == ("sigmoid", "elu")
    old = new.to_dict()
    del old["scale_map"], old["glow_activation"]
    back = ic.FlowConfig.from_dict(old)
    assert (back.scale_map, back.glow_activation) == ("tanh", "elu")
    assert ic.FlowConfig.from_dict(new.to_dict()) == new
    iresnet = ic.FlowConfig().to_dict()
    del iresnet["scale_map"], iresnet["glow_activation"]  # no couplings: read as before
    assert ic.FlowConfig.from_dict(iresnet) == ic.FlowConfig()
