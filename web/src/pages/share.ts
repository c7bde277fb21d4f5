// Pages: share. (registers its routes with route())
export {};
