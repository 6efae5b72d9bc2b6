from index.build.chunk import ChunkParams, chunk_corpus, chunk_document, sentence_spans
from index.ingest.clean import CleanDocument, find_headings


def test_every_passage_of_the_real_corpus_points_at_its_text(loaded_corpus):
    params = ChunkParams()
    passages = chunk_corpus(loaded_corpus, params)
    by_source = {d.source: d for d in loaded_corpus}
    assert len(passages) > 100
    for p in passages:
        assert by_source[p.source].text[p.char_start:p.char_end] == p.text
        assert len(p.text) <= params.max_chars
    assert len({p.chunk_id for p in passages}) == len(passages)
    lengths = sorted(len(p.text) for p in passages)
    assert 150 <= lengths[len(lengths) // 2] <= 400


def test_chunks_cover_the_whole_document(loaded_corpus):
    for doc in loaded_corpus:
        covered = set()
        for p in chunk_document(doc):
            covered.update(range(p.char_start, p.char_end))
        content = {i for i, c in enumerate(doc.text) if not c.isspace()}
        assert content <= covered, doc.source


def test_sentences_are_never_split_unless_too_long():
    text = "第一句很短。第二句也短!第三句;" + "很长" * 300 + "。"
    spans = sentence_spans(text, max_chars=100)
    assert [text[s:e] for s, e in spans[:3]] == ["第一句很短。", "第二句也短!", "第三句;"]
    assert all(e - s <= 100 for s, e in spans)


def test_passages_break_at_headings_and_ids_are_stable():
    body = "这是一句用于测试的正文内容,长度适中。" * 6
    text = f"一、第一部分\n{body}\n二、第二部分\n{body}"
    doc = CleanDocument("t_1.txt", "T", text, find_headings(text))
    passages = chunk_document(doc, ChunkParams(max_chars=500, target_chars=300, min_chars=80))
    starts = [p.text.split("\n")[0] for p in passages]
    assert "二、第二部分" in starts
    assert passages[-1].section.startswith("二、第二部分")
    again = chunk_document(doc, ChunkParams(max_chars=500, target_chars=300, min_chars=80))
    assert [p.chunk_id for p in passages] == [p.chunk_id for p in again]


def test_overlap_repeats_a_short_sentence():
    text = "".join(f"第{i}句话的内容在这里,用于测试重叠。" for i in range(40))
    doc = CleanDocument("t_2.txt", "T", text, [])
    ps = chunk_document(doc, ChunkParams(max_chars=200, target_chars=150, min_chars=50, overlap_chars=40))
    assert any(a.char_end > b.char_start for a, b in zip(ps, ps[1:]))
