"""Learning services: training, evaluation/promotion, pre-segmentation, schedules."""
