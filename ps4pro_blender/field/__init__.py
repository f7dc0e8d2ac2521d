"""The radiance field: a factorised tri-plane with a tiny MLP decoder, an occupancy grid that skips
empty space, a background model, and what trains, evaluates and exports it.

    triplane   the field (planes + MLP heads); coarse-to-fine plane resolution
    occupancy  binary occupancy grid over the aabb (seeded from depth / carved from alpha)
    sampler    camera rays, ray-aabb intersection, samples placed only in occupied space
    render     volume rendering and the background models
    model      field + grid + background, and the checkpoint format
    trainer    the training loop (budget, schedule, losses, checkpoints, held-out PSNR)
    evaluate   full test views: PSNR, SSIM, side-by-side PNGs; novel-view renders
    export     coloured points from rendered depth, a mesh by marching cubes
"""
