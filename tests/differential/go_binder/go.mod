module modegate-differential

go 1.19
