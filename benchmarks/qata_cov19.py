"""QaTa-COV19 benchmark: image-only nnU-Net vs TMCA (and variants) at one budget, on the fold-0 validation split.

Converts the ProLearn (or LViT) layout with ``nnUNetv2_tmca_convert qata``, plans and preprocesses with the
stock nnU-Net (``--verify_dataset_integrity``), trains every trainer at the same budget, predicts the
validation cases with true, shuffled (seed 0) and no reports, evaluates, prints a markdown table and writes
table.md, dice.png and overlays into --out. Steps whose results exist are skipped.

    # 2 CPU cores, ~35 min per pair of trainers: 500 train / 500 val cases at 96x96, 600 iterations each
    python benchmarks/qata_cov19.py --source ../shared/datasets/QaTa-COV19 --out /tmp/real --num_val 200
    # with the mirroring variants
    python benchmarks/qata_cov19.py --source ... --out /tmp/real --num_val 200 --mirroring
    # a custom budget: trainers <name>_e40i25b8 are generated into OUT/benchmark_<id>/trainers
    python benchmarks/qata_cov19.py --source ... --out /tmp/real --epochs 40 --iterations 25 --batch_size 8
    # few reports: TMCA again with the reports of 50/25/10/0 % of fold 0's training cases -> report_curve/curve.png
    python benchmarks/qata_cov19.py --source ... --out /tmp/real --num_val 200 --report_fraction 1 0.5 0.25 0.1 0
    # GPU, full size and schedule
    python benchmarks/qata_cov19.py --source ... --out /data/qata_full -d 521 --size 0 --max_cases 0 --budget full \\
        -device cuda
"""
from nnunetv2_tmca.experiments.real_data import run_real_benchmark
from nnunetv2_tmca.experiments.real_data_options import benchmark_parser, few_reports_curve, trainers_of


def main():
    args = benchmark_parser(__doc__, 511, 500, 96).parse_args()
    trainers, baseline, folder = trainers_of(args)
    run_real_benchmark("qata", args.source, args.dataset_id, args.out, trainers, baseline, args.size or None,
                       args.max_cases or None, args.num_val, args.device, ext_trainer_folder=folder)
    few_reports_curve(args, trainers, baseline)


if __name__ == "__main__":
    main()
