// Pages: enrol. (registers its routes with route())
export {};
