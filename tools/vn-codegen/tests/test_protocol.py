import textwrap

import pytest

from vn_codegen import protocol


def write(tmp_path, body):
    p = tmp_path / "p.toml"
    p.write_text(textwrap.dedent(body))
    return str(p)


BASE = """
[protocol]
wire_format_version = 1
mesa_extension_number = 385
[extensions]
VK_KHR_a = { number = 1, spec_version = 1 }
"""


def test_an_id_used_twice_is_refused(tmp_path):
    path = write(tmp_path, BASE + '[command_ids]\n1 = "vkA"\n2 = ["vkB", "vkA"]\n')
    with pytest.raises(protocol.ProtocolError, match="two command ids"):
        protocol.load(path)


def test_an_extension_number_used_twice_is_refused(tmp_path):
    path = write(tmp_path, BASE.replace("[extensions]", "[extensions]\nVK_KHR_b = { number = 1, spec_version = 1 }")
                 + '[command_ids]\n1 = "vkA"\n')
    with pytest.raises(protocol.ProtocolError, match="extension number"):
        protocol.load(path)


def test_the_real_description_loads(proto):
    assert len(proto.command_ids) == 334
    assert len(proto.extensions) == 185
    assert proto.command_ids[50] == ["vkCreateBuffer"]
