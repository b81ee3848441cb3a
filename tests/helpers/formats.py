"""Writers of the input formats users bring (issue 14), shared by the prepare and workflow tests.

Each writer takes a genes x samples table (``pandas.DataFrame``, index = gene symbols,
columns = sample ids) and writes it the way the tool in question does.
"""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd


def write_featurecounts(tmp_path, table):
    path = tmp_path / "counts.txt"
    meta = pd.DataFrame({"Geneid": table.index, "Chr": "chr1", "Start": 1, "End": 100, "Strand": "+",
                         "Length": 100})
    body = pd.concat([meta.reset_index(drop=True),
                      table.set_axis([f"/data/bam/{s}.bam" for s in table.columns], axis=1)
                      .reset_index(drop=True)], axis=1)
    with open(path, "w") as fh:
        fh.write('# Program:featureCounts v2.0.3; Command:"featureCounts" "-a" "genes.gtf"\n')
        body.to_csv(fh, sep="\t", index=False)
    return path


def write_quant(tmp_path, table, fmt):
    folder = tmp_path / fmt
    for s in table.columns:
        (folder / s).mkdir(parents=True)
        n = table[s].to_numpy() + 0.25  # estimated counts are not integers
        if fmt == "salmon":
            q = pd.DataFrame({"Name": table.index, "Length": 1000, "EffectiveLength": 850.5,
                              "TPM": n / n.sum() * 1e6, "NumReads": n})
            q.to_csv(folder / s / "quant.sf", sep="\t", index=False)
        else:
            q = pd.DataFrame({"target_id": table.index, "length": 1000, "eff_length": 850.5,
                              "est_counts": n, "tpm": n / n.sum() * 1e6})
            q.to_csv(folder / s / "abundance.tsv", sep="\t", index=False)
    return folder


def write_series_matrix(tmp_path, table, sheet):
    path = tmp_path / "GSE1_series_matrix.txt.gz"
    probes = [f"{1000 + i}_at" for i in range(len(table))]
    q = '"'
    lines = ['!Series_title\t"a test series"', '!Series_geo_accession\t"GSE1"',
             "!Sample_title\t" + "\t".join(f'"{s}"' for s in sheet["sample"]),
             "!Sample_geo_accession\t" + "\t".join(f"{q}GSM{i}{q}" for i in range(len(sheet))),
             "!Sample_characteristics_ch1\t" + "\t".join(f'"tissue: {v}"' for v in sheet["label"]),
             "!Sample_characteristics_ch1\t" + "\t".join(f'"patient: {v}"' for v in sheet["patient"]),
             "!series_matrix_table_begin",
             '"ID_REF"\t' + "\t".join(f'"GSM{i}"' for i in range(len(sheet)))]
    logged = np.log2(table.to_numpy() + 1).round(4)  # GEO series values are typically log2
    lines += [f'"{p}"\t' + "\t".join(map(str, row)) for p, row in zip(probes, logged, strict=True)]
    lines += ["!series_matrix_table_end", ""]
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines))
    gene_map = tmp_path / "probes.tsv"
    pd.DataFrame({"ID": probes, "symbol": table.index}).to_csv(gene_map, sep="\t", index=False)
    return path, gene_map, logged
