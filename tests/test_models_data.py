"""models.names data: parsing rules, bad files, vocabulary, the standard split, examples."""
import random

import numpy as np
import pytest

from models.names import DEFAULT_DATA, DataError, Vocab, build_examples, parse_words, read_words, split


def test_blank_lines_skipped_and_line_numbers_kept(tmp_path):
    f = tmp_path / "w.txt"
    f.write_bytes(b"\xef\xbb\xbfemma\r\n\n   \nolivia  \r\n\tava\n")
    data = read_words(f)
    assert data.words == ["emma", "olivia", "ava"]
    assert data.lines == [1, 4, 5]
    assert data.source == str(f)


def test_empty_file(tmp_path):
    f = tmp_path / "empty.txt"
    f.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.txt: the file is empty"):
        read_words(f)


def test_only_blank_lines(tmp_path):
    f = tmp_path / "blank.txt"
    f.write_text("\n  \n\r\n")
    with pytest.raises(DataError, match="no words"):
        read_words(f)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_words(tmp_path / "nope.txt")


def test_non_utf8_reports_line(tmp_path):
    f = tmp_path / "latin1.txt"
    f.write_bytes("anna\nbob\nzoë\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.txt, line 3: not valid UTF-8 \(byte 0xeb at column 3\)"):
        read_words(f)


def test_unicode_words_are_fine():
    data = parse_words("zoë\nrenée\n".encode())
    assert data.words == ["zoë", "renée"]
    assert Vocab.from_words(data.words).chars == ".enorzéë"


def test_long_line(tmp_path):
    f = tmp_path / "long.txt"
    f.write_text("anna\n" + "x" * 65 + "\n")
    with pytest.raises(DataError, match=r"line 2: line is 65 characters long, more than the limit of 64"):
        read_words(f)
    assert read_words(f, max_len=100).words[1] == "x" * 65
    f.write_text("anna\n" + "x" * 10_000_000 + "\n")  # a 10 MB "line": refused quickly
    with pytest.raises(DataError, match="line 2"):
        read_words(f)


@pytest.mark.parametrize("line, message", [
    ("anna maria", "whitespace"),
    ("dr.who", "reserved"),
    ("a\x00b", "non-printable"),
])
def test_bad_words(line, message):
    with pytest.raises(DataError, match=f"line 2: .*{message}"):
        parse_words(f"ok\n{line}\n".encode(), "f.txt")


def test_unknown_character_reports_line_and_column():
    vocab = Vocab.from_words(["abc", "cab"])
    assert vocab.chars == ".abc" and len(vocab) == 4 and vocab.stoi["."] == 0
    data = parse_words(b"abc\n\nbad\n", "other.txt")
    with pytest.raises(DataError, match=r"other\.txt, line 3: character 'd' \(U\+0064, column 3 of 'bad'\)"):
        vocab.check(data)
    vocab.check(parse_words(b"cab\n"))  # no error


def test_split_is_the_field_recipe():
    words = [f"w{i}" for i in range(1003)]
    state = random.getstate()
    try:
        expected = list(words)
        random.seed(42)
        random.shuffle(expected)
    finally:
        random.setstate(state)
    before = random.getstate()
    train, dev, test = split(words)
    assert random.getstate() == before  # global state untouched
    n1, n2 = int(0.8 * 1003), int(0.9 * 1003)
    assert (train, dev, test) == (expected[:n1], expected[n1:n2], expected[n2:])
    assert words == [f"w{i}" for i in range(1003)]  # input not modified


def test_build_examples():
    vocab = Vocab.from_words(["emma"])  # . e m a -> 0 2 3 1
    X, Y = build_examples(["emma", "am"], vocab, 3)
    assert X.tolist() == [[0, 0, 0], [0, 0, 2], [0, 2, 3], [2, 3, 3], [3, 3, 1],
                          [0, 0, 0], [0, 0, 1], [0, 1, 3]]
    assert Y.tolist() == [2, 3, 3, 1, 0, 1, 3, 0]
    assert X.dtype == np.int64
    X, Y = build_examples([], vocab, 3)
    assert X.shape == (0, 3) and Y.shape == (0,)


def test_bundled_data():
    data = read_words(DEFAULT_DATA)
    assert len(data.words) == 29_910
    assert len(set(data.words)) == len(data.words)
    assert Vocab.from_words(data.words).chars == ".abcdefghijklmnopqrstuvwxyz"
    assert data.words[:3] == ["emma", "liam", "olivia"]  # most common first
