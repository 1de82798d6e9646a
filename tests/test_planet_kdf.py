"""The PLANET KDF (not RFC 5869) against every case of planet_kdf.json and the map's re-derived values."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linecall.protocol.planet.crypto import pkdf_sha256, pkdf_sha512, planet_kdf
from linecall.protocol.planet.errors import PlanetCryptoError
from tests.planet_vector_params import case_params, h, require

FILE = "planet_kdf.json"


@pytest.mark.parametrize("case", case_params(FILE))
def test_kdf_case(case: Any) -> None:
    case = require(case, FILE)
    hash_name = {"planetKdfSha512": "sha512", "planetKdfSha256": "sha256"}[case["function"]]
    assert case["hash"] == hash_name
    # linejs's "ikm" is the HMAC key and its "salt" the first HMAC message.
    key, message, info = h(case["ikm"]), h(case["salt"]), h(case["info"])
    if "error_message" in case:
        with pytest.raises(PlanetCryptoError):
            planet_kdf(hash_name, key, message, info, case["out_len"])
        return
    out = planet_kdf(hash_name, key, message, info, case["out_len"])
    assert out.hex() == case["out"]
    assert len(out) == case["out_len_effective"]
    helper = pkdf_sha512 if hash_name == "sha512" else pkdf_sha256
    if case["out_len"] is None:
        assert helper(key, message, info) == out


def test_reference_map_rederived_values() -> None:
    """planet-map §11: values re-derived independently with Python's hmac."""
    assert pkdf_sha512(b"ikm key", b"salt material", b"label", 64).hex() == (
        "54f6d4e47d5626904da26d8b5a94593d084f4d2f08d5b9a68e4738446fb5e028"
        "aed635928bad222cf8ccadbb82e7cca9c06525b75917507261cf625b20954d2a"
    )
    assert pkdf_sha256(b"ikm key", b"salt material", b"label", 64).hex() == (
        "167aa50312736560a497178812df827c7b999f86d8d6157bd7cce4479eba894b"
        "f0680590a44c729c8c76810348eea091ecb6aa81e602c23b1f3eeefdb8ca4aec"
    )


@given(st.binary(max_size=80), st.binary(max_size=80), st.binary(max_size=40), st.integers(0, 300))
def test_kdf_output_is_a_prefix_of_longer_output(key: bytes, message: bytes, info: bytes, n: int) -> None:
    long = planet_kdf("sha512", key, message, info, 320)
    assert planet_kdf("sha512", key, message, info, n) == long[:n]
