"""Settings: defaults, a TOML file, then environment variables, with clear errors."""
import pytest

from consumer.settings import Settings, SettingsError


def test_environment_overrides_file_overrides_defaults(tmp_path):
    config = tmp_path / "tidings.toml"
    config.write_text('[tidings]\npartitions = 12\ntopic_prefix = "fromfile"\n[kafka]\n"security.protocol" = "SSL"\n')
    settings = Settings.load({"TIDINGS_CONFIG": str(config), "TIDINGS_TOPIC_PREFIX": "fromenv"})
    assert settings.partitions == 12
    assert settings.topic_prefix == "fromenv"
    assert settings.kafka_common()["security.protocol"] == "SSL"
    assert Settings.load({}).topic_prefix == "tidings"


def test_bad_values_name_the_variable(tmp_path):
    with pytest.raises(SettingsError, match="TIDINGS_PARTITIONS"):
        Settings.load({"TIDINGS_PARTITIONS": "many"})
    with pytest.raises(SettingsError, match="does not exist"):
        Settings.load({"TIDINGS_CONFIG": str(tmp_path / "missing.toml")})
