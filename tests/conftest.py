"""The ``slow`` marker: ``python -m pytest -m "not slow"`` is the developer's quick loop.

Slow are the tests that train a network, start other processes (several workers, the
command line, papermill, a wheel build), and every notebook that nbval executes. CI runs
them all (the README's test command selects no marker).
"""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

#: tests that took a second or more each (``--durations``, 2-core Xeon, 2026-12-01), by file;
#: the tests that train or start processes carry ``@pytest.mark.slow`` in their own files
SLOW_TESTS: dict[str, tuple[str, ...]] = {
    "test_notebook.py": ("test_setup_notebook_prints_versions_and_device",),
    "test_analysis.py": (
        "test_gradient_depth_pre_activation_versus_plain",
        "test_gradient_norms_one_finite_positive_value_per_unit",
        "test_training_mode_uses_batch_statistics_and_leaves_the_model_unchanged",
        "test_unit_outputs_are_the_tensor_leaving_each_unit",
    ),
    "test_augment.py": (
        "test_augmentation_keeps_shape_and_changes_pixels",
        "test_augmented_pipeline_differs_between_epochs",
        "test_default_augmentation_is_flip_and_crop_without_interpolation",
    ),
    "test_cli.py": (
        "test_a_full_disk_is_one_line_naming_the_file",
        "test_a_read_only_out_folder_is_one_line",
        "test_an_out_folder_under_a_file_is_one_line",
        "test_bad_values_give_a_one_line_error",
        "test_tensorboard_missing_gives_a_clear_error",
    ),
    "test_course.py": (
        "test_a_bad_value_fails_in_the_apply_cell_with_one_line",
        "test_a_failing_lesson_fails_the_command_and_names_the_cell",
        "test_an_injected_value_wins_over_the_quick_profile_even_at_its_default",
        "test_cli_course_run",
        "test_run_course_executes_in_order_with_profile_and_parameters",
        "test_run_course_only_and_inplace",
        "test_run_course_raises_after_a_failed_lesson",
        "test_sweep_failing_job_names_variant_seed_and_cell",
        "test_sweep_reruns_a_job_whose_parameters_changed",
        "test_sweep_two_variants_by_two_seeds",
    ),
    "test_data.py": (
        "test_load_flowers32_pipelines",
        "test_load_image_size_resizes",
        "test_shuffle_changes_order_each_epoch",
    ),
    "test_diagrams.py": (
        "test_cli_run_writes_the_same_bytes_again",
        "test_save_all_writes_ten_files_and_nothing_else",
    ),
    "test_evaluate.py": ("test_most_confident_errors_match_a_numpy_reference",),
    "test_exercises.py": (
        "test_an_exercise_notebook_raises_only_its_stubs",
        "test_flexible_network_check",
        "test_network_check_accepts_a_right_answer",
        "test_network_check_names_the_mistake",
        "test_params_by_hand_check",
        "test_train_recipe_trains_and_caches",
        "test_unit_params_check",
    ),
    "test_layers.py": (
        "test_a_portable_file_loads_in_plain_keras_without_rnpa",
        "test_models_use_it_and_save_load_round_trip",
        "test_portable_and_fused_swap_only_the_class",
        "test_training_steps_under_each_policy",
    ),
    "test_models.py": (
        "test_build_model_passes_the_builders_own_arguments",
        "test_cifar_resnet_pre_and_post_are_the_named_builders",
        "test_deprecated_bottleneck_keyword_still_builds_the_same_network",
        "test_every_layer_name_reads_back_and_remakes_itself",
        "test_family_forward_pass",
        "test_few_training_steps_on_flowers32_lower_the_loss",
        "test_keras_save_load_round_trip",
        "test_network_modules_import_no_data_module",
        "test_option_a_network_saves_and_loads",
        "test_option_a_resnets_have_the_sizes_of_table_6",
        "test_preact_resnet1001_builds_with_the_papers_size",
        "test_preact_resnet110_basic",
        "test_preact_resnet164",
        "test_pretrained_flowers32_weights",
        "test_weights_of_another_architecture_are_refused_with_the_layer_named",
    ),
    "test_notebooks.py": (
        "test_checked_outputs_are_the_same_in_every_run",
        "test_papermill_injects_parameters_that_take_effect",
    ),
    "test_packaging.py": (
        "test_the_test_extra_installs_everything_the_tests_import",
        "test_wheel_ships_the_data_with_its_license",
    ),
    "test_speed.py": (
        "test_epoch_seconds_counts_the_whole_epoch",
        "test_gpu_check_tiny_prints_the_table",
        "test_table_skips_float16_without_a_gpu_and_formats_rows",
        "test_throughput_counts_images_per_second_of_the_clock",
        "test_throughput_is_a_positive_finite_number",
        "test_throughput_is_the_median_of_the_rounds",
        "test_throughput_with_xla_and_the_policy_is_restored",
    ),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "slow: trains a network, starts processes or runs a notebook (deselect with -m 'not slow')",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.path)).resolve()
        name = getattr(item, "originalname", item.name)
        if NOTEBOOKS in path.parents or name in SLOW_TESTS.get(path.name, ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def small():
    """256 training images of flowers32 (all five classes), batch 64: for tests that train."""
    from rnpa import data as rdata

    return rdata.load("flowers32", batch_size=64, limit=256, augment="flip")
