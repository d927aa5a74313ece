#!/usr/bin/env python3
"""Writes the malformed input files of tests/bad_input.cmake into this folder.
Each is a small valid file with one thing broken (the name says what). Shapes:
traces for --experts 4 --topk 2 --layers 1 and 2 steps; placements for 4 ranks,
8 experts, 4 redundant (12 slots, 1 layer); topologies for 4 ranks. The deeply
nested file is made at configure time by bad_input.cmake (200 kB)."""
import copy
import json


def w(name, obj):
    with open(name, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))


topk = {"kind": "topk", "experts": 4, "topk": 2, "layers": 1,
        "steps": [{"layers": [[[0, 1], [2, 3], [1, 2], [3, 0]]]}] * 2}
counts = {"kind": "counts", "experts": 4, "layers": 1,
          "steps": [{"layers": [[40, 30, 20, 10]]}] * 2}
w("trace_ok.json", topk)
w("trace_counts_ok.json", counts)


def tk(name, fn, base=topk):
    t = copy.deepcopy(base)
    fn(t)
    w(name, t)


s = json.dumps(topk)
w("trace_truncated.json", s[: len(s) // 2])
w("trace_empty.json", "")
w("trace_array.json", "[1, 2, 3]")
tk("trace_wrong_experts.json", lambda t: t.update(experts=8))
tk("trace_wrong_topk.json", lambda t: t.update(topk=3))
tk("trace_kind.json", lambda t: t.update(kind="histogram"))
tk("trace_no_steps.json", lambda t: t.pop("steps"))
tk("trace_one_step.json", lambda t: t.update(steps=t["steps"][:1]))
tk("trace_id_range.json", lambda t: t["steps"][0]["layers"][0][0].__setitem__(0, 9))
tk("trace_id_float.json", lambda t: t["steps"][0]["layers"][0][0].__setitem__(0, 1e300))
tk("trace_dup_id.json", lambda t: t["steps"][0]["layers"][0].__setitem__(0, [1, 1]))
tk("trace_short_token.json", lambda t: t["steps"][0]["layers"][0].__setitem__(0, [1]))
tk("trace_empty_layer.json", lambda t: t["steps"][0]["layers"].__setitem__(0, []))
tk("trace_counts_negative.json", lambda t: t["steps"][0]["layers"][0].__setitem__(1, -5), counts)
tk("trace_counts_len.json", lambda t: t["steps"][0]["layers"].__setitem__(0, [1, 2, 3]), counts)
tk("trace_counts_zero.json", lambda t: t["steps"][0]["layers"].__setitem__(0, [0, 0, 0, 7]), counts)
w("trace_counts_huge.json", json.dumps(counts).replace("[40, 30", "[99999999999999999999999, 30", 1))

place = {"phy2log": [[0, 1, 4, 2, 3, 5, 4, 5, 0, 6, 7, 2]]}
w("place_ok.json", place)
p = json.dumps(place)
w("place_truncated.json", p[: len(p) // 2])
w("place_no_key.json", {"log2phy": place["phy2log"]})
w("place_short.json", {"phy2log": [place["phy2log"][0][:11]]})
w("place_no_layers.json", {"phy2log": []})
w("place_id_range.json", {"phy2log": [[0, 1, 4, 2, 3, 5, 4, 5, 0, 6, 7, 12]]})
w("place_negative.json", {"phy2log": [[0, 1, 4, 2, 3, 5, 4, 5, 0, 6, 7, -1]]})
w("place_missing_expert.json", {"phy2log": [[0, 1, 4, 2, 3, 5, 4, 5, 0, 6, 6, 2]]})
w("place_float.json", {"phy2log": [[0.5, 1, 4, 2, 3, 5, 4, 5, 0, 6, 7, 2]]})
w("place_string.json", {"phy2log": [["0", 1, 4, 2, 3, 5, 4, 5, 0, 6, 7, 2]]})

w("topo_ok.json", {"r2o": [[1], [2], [3], [0]]})
w("topo_bad_edge.json", {"r2o": [[1], [2], [7], [0]]})
w("topo_negative_edge.json", {"r2o": [[1], [2], [-1], [0]]})
w("topo_self_edge.json", {"r2o": [[1], [1], [3], [0]]})
w("topo_ragged.json", {"r2o": [[1, 2], [2], [3, 0], [0, 1]]})
w("topo_three_rows.json", {"r2o": [[1], [2], [0]]})
w("topo_empty.json", {"r2o": []})
w("topo_not_matrix.json", {"r2o": [1, 2, 3, 0]})
w("topo_no_key.json", {"edges": [[1], [2], [3], [0]]})
w("topo_truncated.json", '{"r2o": [[1], [2], [3')
