import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from vn_codegen import model, protocol, registry  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
TOML = os.path.join(ROOT, "venus-protocol", "venus-protocol.toml")
VK_XML = os.environ.get("VN_VK_XML", "/usr/share/vulkan/registry/vk.xml")


@pytest.fixture(scope="session")
def reg():
    return registry.load(VK_XML)


@pytest.fixture(scope="session")
def proto():
    return protocol.load(TOML)


@pytest.fixture(scope="session")
def built():
    return model.build(registry.load(VK_XML), protocol.load(TOML))


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/codegen/golden")
