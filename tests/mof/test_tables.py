"""Array cells of the Parquet tables: flattened row-major and read back with their shape."""

import numpy as np
import pandas as pd

from mof.tables import column_array, from_cell, read_table, to_cell, write_table


def test_an_array_survives_a_parquet_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    sigmas = rng.random((4, 3, 3))
    bonds = np.array([[0, 1], [1, 2]])
    df = pd.DataFrame(
        {
            "sigmas": [to_cell(sigmas), to_cell(np.zeros((0, 3, 3)))],
            "bonds": [to_cell(bonds, np.int64), to_cell([], np.int64)],
        }
    )
    write_table(df, tmp_path / "sub" / "t.parquet")
    back = read_table(tmp_path / "sub" / "t.parquet")
    assert np.array_equal(column_array(back.iloc[0], "sigmas"), sigmas)
    assert column_array(back.iloc[1], "sigmas").shape == (0, 3, 3)
    b = column_array(back.iloc[0], "bonds")
    assert b.dtype == np.int64 and np.array_equal(b, bonds)
    assert column_array(next(back.itertuples()), "bonds").shape == (2, 2)  # a named tuple
    assert column_array({"bonds": []}, "bonds").shape == (0, 2)  # a dict


def test_from_cell_takes_any_shape():
    assert from_cell(list(range(6)), (2, 3)).tolist() == [[0, 1, 2], [3, 4, 5]]
    assert to_cell(np.eye(2)) == [1.0, 0.0, 0.0, 1.0]
