"""Kvasir-SEG benchmark (MedVLSM prompts as reports): image-only nnU-Net vs TMCA at one budget.

Same steps as ``qata_cov19.py`` (convert with ``nnUNetv2_tmca_convert kvasir``, plan with the integrity
check, train, predict the 100 official validation images with true, shuffled and no reports, evaluate,
table + plot + overlays). The prompt level is chosen with --prompt (default p6: count, size, colour, shape
and position). The prompts were derived from the masks: they are optimistic "oracle" text.

    python benchmarks/kvasir_seg.py --source ../shared/datasets/Kvasir-SEG --out /tmp/real      # 64x64, CPU
    python benchmarks/kvasir_seg.py --source ... --out /data/kvasir_full -d 522 --size 0 --budget full -device cuda
"""
from nnunetv2_tmca.experiments.real_data import run_real_benchmark
from nnunetv2_tmca.experiments.real_data_options import benchmark_parser, few_reports_curve, trainers_of


def main():
    p = benchmark_parser(__doc__, 512, 0, 64)
    p.add_argument("--prompt", default="p6", help="MedVLSM prompt key used as the report (p0..p9)")
    args = p.parse_args()
    trainers, baseline, folder = trainers_of(args)
    run_real_benchmark("kvasir", args.source, args.dataset_id, args.out, trainers, baseline, args.size or None,
                       args.max_cases or None, args.num_val, args.device, prompt=args.prompt,
                       ext_trainer_folder=folder)
    few_reports_curve(args, trainers, baseline)


if __name__ == "__main__":
    main()
