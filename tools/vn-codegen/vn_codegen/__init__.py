"""Venus protocol code generator: vk.xml + venus-protocol.toml -> C++ codec (see README.md)."""
