"""Seed files that cannot be text are skipped and reported; one bad file never stops a build."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from index.ingest import seeds as ingest
from index.config import REPO_ROOT, Settings
from index.ingest.seeds import SeedError, decode, load_corpus, read_seed

GOOD_TEXT = (
    "关于加快海洋牧场建设的实施意见\n\n"
    "一、总体要求\n\n"
    "坚持生态优先、绿色发展，推进深远海养殖装备建设，到二〇二五年建成十座现代化海洋牧场示范区。\n\n"
    "二、主要任务\n\n"
    "（一）建设人工鱼礁。在近海海域投放生态型人工鱼礁，修复海藻场和海草床。\n"
    "（二）发展休闲渔业。支持海洋牧场与海上风电、滨海旅游融合发展。\n"
)


def write(path, data: bytes):
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------- decode and read


def test_empty_and_blank_files_are_rejected(tmp_path):
    for name, data in (("empty.txt", b""), ("blank.txt", b"  \n\r\n\t  \n")):
        with pytest.raises(SeedError, match="empty"):
            read_seed(write(tmp_path / name, data))


def test_binary_file_is_rejected(tmp_path):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 20
    with pytest.raises(SeedError, match="binary"):
        read_seed(write(tmp_path / "image.txt", png))


def test_undecodable_bytes_are_rejected():
    with pytest.raises(SeedError, match="neither UTF-8 nor GB18030"):
        decode(b"\x80\xff\xfe\xfd" * 50 + b"\x80")  # no NUL, no valid UTF-8 or GB18030 reading
    with pytest.raises(SeedError):
        decode(bytes([0xFF, 0x80]) * 100)


def test_mostly_control_characters_are_rejected():
    with pytest.raises(SeedError):
        decode(b"\x01\x02\x03\x04\x05abc" * 100)


def test_gb18030_chinese_is_decoded_correctly(tmp_path):
    data = GOOD_TEXT.encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # really not UTF-8
    assert decode(data) == GOOD_TEXT
    doc = read_seed(write(tmp_path / "gb.txt", data))
    assert doc.title == "关于加快海洋牧场建设的实施意见"
    assert "深远海养殖装备" in doc.text and "人工鱼礁" in doc.text
    # A four-byte GB18030 sequence (outside GBK) survives too.
    rare = "𠀀测试文字" * 10
    assert decode(rare.encode("gb18030")) == rare


def test_utf8_with_bom_and_utf16_are_decoded(tmp_path):
    assert decode(b"\xef\xbb\xbf" + GOOD_TEXT.encode("utf-8")) == GOOD_TEXT  # BOM dropped
    assert decode(GOOD_TEXT.encode("utf-16")) == GOOD_TEXT  # BOM + NUL bytes, still text
    doc = read_seed(write(tmp_path / "u16.txt", GOOD_TEXT.encode("utf-16")))
    assert "人工鱼礁" in doc.text


def test_huge_file_is_rejected_without_reading_it(tmp_path, monkeypatch):
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as f:  # sparse: 1 byte past the limit, no disk used
        f.truncate(ingest.MAX_FILE_BYTES + 1)
    reads = []
    real = type(huge).read_bytes
    monkeypatch.setattr(type(huge), "read_bytes", lambda self: reads.append(self) or real(self))
    with pytest.raises(SeedError, match="over the .* limit"):
        read_seed(huge)
    assert reads == []


def test_file_over_a_lowered_limit_is_rejected(tmp_path, monkeypatch):
    path = write(tmp_path / "big.txt", GOOD_TEXT.encode("utf-8") * 20)
    assert read_seed(path).text  # fine at the normal limit
    monkeypatch.setattr(ingest, "MAX_FILE_BYTES", 1000)
    with pytest.raises(SeedError, match="limit"):
        read_seed(path)


def test_unreadable_file_is_skipped_not_fatal(tmp_path):
    if os.geteuid() == 0:
        # root reads anything: use a dangling symlink instead, which fails to open.
        (tmp_path / "gone.txt").symlink_to(tmp_path / "does-not-exist.txt")
    else:
        p = write(tmp_path / "gone.txt", b"x")
        p.chmod(0)
    write(tmp_path / "ok.txt", GOOD_TEXT.encode())
    docs, skipped = load_corpus(tmp_path)
    assert [d.source for d in docs] == ["ok.txt"]


def test_load_corpus_reports_each_bad_file(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest, "MAX_FILE_BYTES", 5000)
    write(tmp_path / "a_good.txt", GOOD_TEXT.encode("utf-8"))
    write(tmp_path / "b_gb.txt", GOOD_TEXT.encode("gb18030"))
    write(tmp_path / "c_empty.txt", b"")
    write(tmp_path / "d_binary.txt", b"\x00\x01\x02" * 100)
    write(tmp_path / "e_huge.txt", b"a" * 6000)
    write(tmp_path / "f_notes.md", b"ignored: not a .txt")
    write(tmp_path / ".hidden.txt", b"ignored: hidden")
    docs, skipped = load_corpus(tmp_path)
    assert [d.source for d in docs] == ["a_good.txt", "b_gb.txt"]
    assert docs[0].text == docs[1].text
    reasons = {s.source: s.reason for s in skipped}
    assert set(reasons) == {"c_empty.txt", "d_binary.txt", "e_huge.txt"}
    assert "empty" in reasons["c_empty.txt"] and "binary" in reasons["d_binary.txt"] and "limit" in reasons["e_huge.txt"]


# ---------------------------------------------------------------- a real build with bad files


def test_build_with_bad_files_completes_and_reports_them(tmp_path, encoder):
    from index.search import Searcher
    from index.backends.local.store import build, load

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    shutil.copy(REPO_ROOT / "seeds" / "004_add29a2c5c193579.txt", seeds)
    write(seeds / "100_ocean_gb18030.txt", GOOD_TEXT.encode("gb18030"))
    write(seeds / "200_broken.txt", b"\x89PNG\r\n\x1a\n\x00\x00" + os.urandom(2000))
    write(seeds / "300_empty.txt", b"")
    with (seeds / "400_huge.txt").open("wb") as f:
        f.truncate(ingest.MAX_FILE_BYTES + 10)  # sparse
    settings = Settings(seeds_dir=seeds, var_dir=tmp_path / "var")

    folder = build(settings, encoder=encoder, progress=False)

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    skipped = {s["source"]: s["reason"] for s in manifest["skipped"]}
    assert set(skipped) == {"200_broken.txt", "300_empty.txt", "400_huge.txt"}
    assert "binary" in skipped["200_broken.txt"] and "empty" in skipped["300_empty.txt"]
    assert "limit" in skipped["400_huge.txt"]
    assert manifest["counts"]["documents"] == 2
    index = load(settings)
    assert set(index.documents) == {"004_add29a2c5c193579.txt", "100_ocean_gb18030.txt"}
    assert {p.source for p in index.passages} == set(index.documents)
    searcher = Searcher(index, encoder, settings)
    for mode in ("bm25", "dense", "hybrid"):
        hits = searcher.search("海洋牧场 人工鱼礁", top_k=3, mode=mode, with_answer=False).hits
        assert hits[0].passage.source == "100_ocean_gb18030.txt", mode
        assert "人工鱼礁" in "".join(h.passage.text for h in hits)
    # The skipped files are not in the index in any form.
    assert not any("PNG" in p.text for p in index.passages)


def test_build_with_only_bad_files_fails_and_keeps_nothing(tmp_path, encoder):
    from index.build.plan import IndexUnavailable
    from index.backends.local.store import build

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    write(seeds / "empty.txt", b"")
    settings = Settings(seeds_dir=seeds, var_dir=tmp_path / "var")
    with pytest.raises(IndexUnavailable, match="no usable seed files"):
        build(settings, encoder=encoder, progress=False)
    builds = settings.index_root / "builds"
    assert not (settings.index_root / "current").exists()
    assert list(builds.iterdir()) == []  # the temporary folder was removed
