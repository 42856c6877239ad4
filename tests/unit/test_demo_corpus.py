"""The planted corpus: determinism, held-out composition split, answers consistent with tables."""

import json

import pytest

from atlas.demo.corpus import FUNCTION_WORDS, CorpusConfig, build_corpus
from atlas.demo.tokenizer import build_tokenizer
from atlas.errors import InputError


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One torch thread: on the shared 2-core machine more threads oversubscribe (5x slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def corpus():
    return build_corpus(0)


def test_same_seed_same_corpus_other_seed_other_corpus():
    small = CorpusConfig(seed=3, n_documents=500)
    assert build_corpus(config=small) == build_corpus(config=small)
    other = build_corpus(config=CorpusConfig(seed=4, n_documents=500))
    assert other.city_state != build_corpus(config=small).city_state


def test_two_hop_prompts_never_name_the_intermediate(corpus):
    states = set(corpus.state_capital)
    two_hop = [q for q in corpus.queries if q.task == "two_hop"]
    assert len(two_hop) == corpus.config.n_cities
    for q in two_hop:
        assert not states & set(q.prompt.split()), q.prompt
        assert q.subject in q.prompt.split()
        assert q.intermediate == corpus.city_state[q.subject]
        assert q.answer == corpus.state_capital[q.intermediate] == corpus.two_hop_answer(q.subject)


def test_held_out_two_hop_facts_are_absent_but_their_one_hop_facts_present(corpus):
    docs = set(corpus.documents)
    assert len(corpus.held_out_cities) == corpus.config.n_states * corpus.config.held_out_per_state
    for q in corpus.queries:
        if q.task != "two_hop":
            continue
        statement = f"{q.prompt} {q.answer} ."
        assert (statement not in docs) == (q.split != "train")
        assert (q.split == "validation") == (q.subject in corpus.validation_cities)
    for city in corpus.held_out_cities:
        assert f"{city} is in {corpus.city_state[city]} ." in docs
    for state, capital in corpus.state_capital.items():
        assert f"the capital of {state} is {capital} ." in docs
    # every state has a validation and a test city: composition is checked for every intermediate
    for split in ("validation", "test"):
        cities = {q.subject for q in corpus.queries if q.task == "two_hop" and q.split == split}
        assert {corpus.city_state[c] for c in cities} == set(corpus.state_capital)


def test_tables_are_balanced_and_names_distinct(corpus):
    cfg = corpus.config
    for state in corpus.state_capital:
        assert list(corpus.city_state.values()).count(state) == cfg.cities_per_state
    vocab = corpus.vocab
    assert len(vocab) == len(set(vocab))
    assert not set(FUNCTION_WORDS) & (set(corpus.city_state) | set(corpus.state_capital))


def test_one_hop_and_induction_answers(corpus):
    for q in corpus.queries:
        words = q.prompt.split()
        if q.task == "one_hop_state":
            assert q.answer == corpus.city_state[words[0]]
        elif q.task == "one_hop_capital":
            assert q.answer == corpus.state_capital[words[3]]
        elif q.task == "induction":
            run = words[2:2 + cfg_len(corpus)]
            assert words[2 + cfg_len(corpus):] == run[:-1] and q.answer == run[-1]
            assert len(set(run)) == len(run)


def cfg_len(corpus):
    return corpus.config.induction_len


def test_tokenizer_has_one_token_per_word_and_reloads(corpus, tmp_path):
    from transformers import AutoTokenizer

    build_tokenizer(corpus.vocab).save_pretrained(tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    unk = tok.unk_token_id
    for doc in corpus.documents[:300]:
        ids = tok(doc, add_special_tokens=False)["input_ids"]
        assert len(ids) == len(doc.split()) and unk not in ids
        assert tok.decode(ids) == doc
    assert tok.bos_token == "<bos>" and tok.eos_token == "<eos>" and tok.pad_token == "<pad>"


def test_written_files_match_tables(corpus, tmp_path):
    corpus.write(tmp_path)
    planted = json.loads((tmp_path / "planted.json").read_text())
    assert planted["two_hop"]["first_hop"] == corpus.city_state
    assert planted["two_hop"]["second_hop"] == corpus.state_capital
    lines = (tmp_path / "corpus.jsonl").read_text().splitlines()
    assert [json.loads(line)["text"] for line in lines] == list(corpus.documents)
    prompts = [json.loads(line) for line in (tmp_path / "prompts.jsonl").read_text().splitlines()]
    assert len(prompts) == len(corpus.queries)


def test_impossible_split_is_one_line_error():
    with pytest.raises(InputError, match="held_out_per_state") as err:
        build_corpus(config=CorpusConfig(cities_per_state=2, held_out_per_state=2))
    with pytest.raises(InputError, match="n_heads"):
        from atlas.demo.model import TinyModelConfig
        TinyModelConfig(d_model=30, n_heads=4)
    assert "\n" not in str(err.value)


# --- the tiny model trainer, on a very reduced config ---------------------------------------

def _small():
    from atlas.demo.model import TinyModelConfig

    corpus = build_corpus(config=CorpusConfig(n_states=3, cities_per_state=3, held_out_per_state=2,
                                              n_symbols=8,
                                              induction_len=3, n_documents=400,
                                              n_eval_induction=10))
    return corpus, TinyModelConfig(n_layers=2, d_model=32, n_heads=2, steps=20, batch_size=16,
                                   eval_every=5)


def test_tiny_model_trainer_is_deterministic_and_cached(tmp_path):
    import torch
    from safetensors.torch import load_file

    from atlas.demo.model import train_tiny_model
    from atlas.models import load_model

    corpus, config = _small()
    calls = []
    first = train_tiny_model(corpus, tmp_path / "a", seed=1, config=config,
                             progress=lambda step, total, loss: calls.append(step))
    assert calls == list(range(1, 21)) and not first.cached
    assert {"two_hop:test", "two_hop:validation", "two_hop:train", "one_hop_state:train",
            "induction:test"} <= set(first.accuracy)
    assert 1 <= first.best_step <= 20
    second = train_tiny_model(corpus, tmp_path / "b", seed=1, config=config)
    a = load_file(str(tmp_path / "a" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert second.accuracy == first.accuracy
    again = train_tiny_model(corpus, tmp_path / "a", seed=1, config=config,
                             progress=lambda *a: pytest.fail("retrained a cached model"))
    assert again.cached and again.fingerprint == first.fingerprint
    loaded = load_model(tmp_path / "a")
    assert loaded.n_layers == 2 and loaded.tokenizer.bos_token == "<bos>"
    for name in ("planted.json", "prompts.jsonl", "corpus.jsonl", "atlas_demo.json"):
        assert (tmp_path / "a" / name).is_file()


def test_planted_files_read_back_through_strict_models(corpus, tmp_path):
    from atlas.demo.planted import load_planted, load_prompts

    corpus.write(tmp_path)
    planted = load_planted(tmp_path)
    city = corpus.held_out_cities[0]
    assert planted.intermediate(city) == corpus.city_state[city]
    two_hop = load_prompts(tmp_path, task="two_hop")
    assert len(two_hop) == corpus.config.n_cities
    assert all(r.intermediate == planted.intermediate(r.subject) for r in two_hop)
    (tmp_path / "planted.json").write_text('{"fingerprint": "x"}')
    with pytest.raises(InputError, match="planted-structure"):
        load_planted(tmp_path)
