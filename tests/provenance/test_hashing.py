"""RFC 6962 hashing: known answers from the Certificate Transparency reference tree."""

from __future__ import annotations

from pathlib import Path

from provenance.ledger import RFC6962, Hasher, Ledger

# The 8-leaf reference tree of RFC 6962 implementations (transparency-dev/merkle testonly).
LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
LEVEL_1 = [
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
]


def test_leaf_and_node_hashes_use_the_rfc_6962_domain_prefixes() -> None:
    assert RFC6962.hash_leaf(b"").hex() == ROOTS[1]
    assert RFC6962.empty_root().hex() == ROOTS[0]
    left, right = RFC6962.hash_leaf(LEAVES[0]), RFC6962.hash_leaf(LEAVES[1])
    assert RFC6962.hash_children(left, right).hex() == LEVEL_1[0]
    assert isinstance(RFC6962, Hasher)


def test_ledger_roots_match_the_reference_tree_at_every_size(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger") as ledger:
        assert ledger.root().hex() == ROOTS[0]
        for size, leaf in enumerate(LEAVES, start=1):
            ledger.append(leaf)
            assert ledger.root().hex() == ROOTS[size]
        assert [ledger.root(size).hex() for size in range(9)] == ROOTS


def test_ledger_stores_the_reference_node_hashes_per_level(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger") as ledger:
        ledger.append_many(LEAVES[:3])
        ledger.append_many(LEAVES[3:])
    level1 = (tmp_path / "ledger" / "index" / "level-01.bin").read_bytes()
    level3 = (tmp_path / "ledger" / "index" / "level-03.bin").read_bytes()
    assert [level1[i : i + 32].hex() for i in range(0, 128, 32)] == LEVEL_1
    assert level3.hex() == ROOTS[8]
