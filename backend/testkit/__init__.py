"""The test kit: what the test suites, the benchmarks and the image test share, outside the product.

- `testkit.fake_coingecko`: the fake CoinGecko upstream (a real HTTP server on 127.0.0.1);
- `testkit.processes`: free ports, servers started until they answer, bounded waits, plain GETs.

Not packaged and in no image: pytest puts `backend/` on its path (pyproject's pytest settings);
anything else runs with `PYTHONPATH=backend`.
"""
