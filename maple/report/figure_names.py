"""Figure keys and file stems, importable at Snakefile parse time (no matplotlib)."""

STEMS = {
    "fig1": "fig1_rank_bits_heatmap",
    "fig1b": "fig1b_rank_bits_heatmap_belebele",
    "fig2": "fig2_taskwise_best",
    "fig3": "fig3_belebele_groups",
    "fig4": "fig4_xquad_languages",
    "fig5": "fig5_english_degradation",
    "fig6": "fig6_resource_levels",
}
