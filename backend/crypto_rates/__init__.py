"""crypto-rates: live exchange rates from CoinGecko, served from an in-memory snapshot."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("crypto-rates")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"
