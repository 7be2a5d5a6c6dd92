import numpy as np
import pytest
import scipy.linalg

from keras_deepae.decomposition import principal_angles


def random_matrix(rows, columns, seed):
    return np.random.default_rng(seed).normal(size=(rows, columns))


@pytest.mark.parametrize(
    "rows, k_a, k_b, seed", [(10, 3, 3, 0), (10, 2, 5, 1), (7, 4, 1, 2), (50, 6, 6, 3)]
)
def test_agrees_with_scipy(rows, k_a, k_b, seed):
    A, B = random_matrix(rows, k_a, seed), random_matrix(rows, k_b, seed + 100)
    angles = principal_angles(A, B)
    # SciPy gives the same angles, largest first.
    expected = np.sort(scipy.linalg.subspace_angles(A, B))
    assert angles.shape == (min(k_a, k_b),)
    np.testing.assert_allclose(angles, expected, atol=1e-10)
    assert np.all(np.diff(angles) >= 0)


def test_identical_spans_give_zero_angles():
    A = random_matrix(8, 3, seed=0)
    mixing = np.array([[2.0, 1.0, 0.0], [0.0, -1.0, 3.0], [1.0, 0.0, 1.0]])
    np.testing.assert_allclose(principal_angles(A, A @ mixing), 0.0, atol=1e-7)
    # A span inside the other: min(k, l) zero angles.
    np.testing.assert_allclose(principal_angles(A, A[:, :2]), 0.0, atol=1e-7)


def test_orthogonal_spans_give_right_angles():
    eye = np.eye(6)
    np.testing.assert_allclose(
        principal_angles(eye[:, :2], eye[:, 2:5]), [np.pi / 2] * 2, atol=1e-12
    )


@pytest.mark.parametrize("theta", [0.0, 0.1, np.pi / 6, 1.2, np.pi / 2])
def test_a_rotation_by_theta_gives_theta(theta):
    line = np.array([[1.0], [0.0]])
    rotation = np.array(
        [[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]
    )
    np.testing.assert_allclose(principal_angles(line, rotation @ line), [theta])


def test_planes_in_3d_share_a_line_and_differ_by_theta():
    theta = 0.4
    plane = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])  # the x-y plane
    # The x-y plane turned by theta about the x axis, with scrambled columns.
    turned = np.array([[1.0, 2.0], [np.cos(theta), 0.0], [np.sin(theta), 0.0]])
    # arccos resolves angles down to about sqrt(machine epsilon) = 1.5e-8.
    np.testing.assert_allclose(principal_angles(plane, turned), [0.0, theta], atol=2e-8)


@pytest.mark.parametrize(
    "A, B, match",
    [
        (np.ones(3), np.ones((3, 1)), r"`A` must be a 2-D array.*A.shape=\(3,\)"),
        (np.ones((3, 1)), np.ones((3, 1, 1)), r"`B` must be a 2-D.*\(3, 1, 1\)"),
        (
            np.ones((3, 1)),
            np.ones((4, 1)),
            r"same number of rows.*A.shape=\(3, 1\), B.shape=\(4, 1\)",
        ),
        (np.ones((3, 0)), np.ones((3, 1)), r"`A` must have at least one.*\(3, 0\)"),
        ([["a"]], np.ones((1, 1)), r"`A` must be a 2-D array of numbers"),
        (np.ones((3, 1)), [[np.nan], [0], [1]], r"`B` must hold finite numbers"),
        (np.ones((3, 2)), np.ones((3, 1)), r"columns of `A`.*independent.*rank 1"),
    ],
)
def test_bad_arguments(A, B, match):
    with pytest.raises(ValueError, match=match):
        principal_angles(A, B)
